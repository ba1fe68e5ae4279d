// Zero-copy CPU tensors over memory-mapped files (safetensors loading with a warm page cache).
//
// mapFile maps a whole file copy-on-write (MAP_PRIVATE, readable and writable): a tensor made over the
// mapping reads the page cache's pages directly, and an in-place write to it copies only the page it
// touches, never the file. Each tensor keeps the mapping alive through its storage's context, so the
// mapping outlives the file object (and its descriptor) for as long as any tensor over it lives;
// unmapFile drops the file's own reference.
//
// A file that shrinks underneath a mapping would make every later access past its new end raise
// SIGBUS (on Linux a truncation drops even the pages already copied). Three defences:
//  - the size is checked when the file is mapped and again before each tensor is made, so a file that
//    changed since it was opened fails with an error instead of giving a tensor;
//  - each tensor's pages are faulted in (MADV_POPULATE_READ) when it is made, which reports a short
//    file as an error rather than a signal;
//  - a SIGBUS inside one of these mappings later on (truncated after the load) is handled: the pages
//    from the fault to the end of the mapping are replaced with zero pages, the loss is counted
//    (mappedFileFaults), and the program goes on. A SIGBUS anywhere else goes to the previous handler.
// A file rewritten in place (same size) shows its new bytes in pages not yet written to, as with
// any mapping; writers that replace files atomically (write, then rename) leave the mapping intact.
#include "common.h"

#include <ATen/ops/from_blob.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22  // Linux 5.14; older kernels answer EINVAL and pages fault in on use
#endif

namespace lt {
namespace {

struct MapError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string errno_message(int err) {
  char buffer[256] = "unknown error";
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
  return strerror_r(err, buffer, sizeof buffer);
#else
  strerror_r(err, buffer, sizeof buffer);
  return buffer;
#endif
}

size_t page_size() {
  static const size_t size = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

// ---- the SIGBUS guard: a fixed table of mapped ranges, read lock-free by the signal handler ----
constexpr int kGuardSlots = 1024;
struct GuardSlot {
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};
};
GuardSlot g_slots[kGuardSlots];
std::atomic<int64_t> g_faults{0};
struct sigaction g_previous;
std::once_flag g_install_once;

void on_sigbus(int sig, siginfo_t* info, void* context) {
  const uintptr_t address = reinterpret_cast<uintptr_t>(info->si_addr);
  for (auto& slot : g_slots) {
    const uintptr_t begin = slot.begin.load(std::memory_order_acquire);
    const uintptr_t end = slot.end.load(std::memory_order_acquire);
    if (begin == 0 || address < begin || address >= end) continue;
    // Zero pages from the faulting page on: everything past the file's new end is gone anyway.
    const uintptr_t page = address & ~(uintptr_t(page_size()) - 1);
    void* replaced = ::mmap(reinterpret_cast<void*>(page), end - page, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (replaced != MAP_FAILED) {
      g_faults.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    break;
  }
  // Not ours (or unrecoverable): behave as if this handler were not there.
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction != nullptr) return g_previous.sa_sigaction(sig, info, context);
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    return g_previous.sa_handler(sig);
  }
  ::signal(SIGBUS, SIG_DFL);  // the faulting access runs again and ends the process as it would have
}

void install_guard() {
  std::call_once(g_install_once, [] {
    struct sigaction action {};
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    if (::sigaction(SIGBUS, &action, &g_previous) != 0) throw MapError("cannot install the SIGBUS handler: " + errno_message(errno));
  });
}

std::mutex g_slots_mutex;  // writers only; the handler reads the atomics

int guard_range(uintptr_t begin, uintptr_t end) {
  std::lock_guard<std::mutex> lock(g_slots_mutex);
  for (int i = 0; i < kGuardSlots; ++i) {
    if (g_slots[i].begin.load(std::memory_order_relaxed) != 0) continue;
    g_slots[i].end.store(end, std::memory_order_release);
    g_slots[i].begin.store(begin, std::memory_order_release);
    return i;
  }
  return -1;
}

void unguard_range(int slot) {
  if (slot < 0) return;
  std::lock_guard<std::mutex> lock(g_slots_mutex);
  g_slots[slot].begin.store(0, std::memory_order_release);
  g_slots[slot].end.store(0, std::memory_order_release);
}

// ---- mappings ----
class Mapping {
 public:
  Mapping(int fd, std::string label, int64_t expected_size) : label_(std::move(label)) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw MapError(label_ + ": cannot stat: " + errno_message(errno));
    if (!S_ISREG(st.st_mode)) throw MapError(label_ + ": not a regular file, cannot be mapped");
    if (st.st_size != expected_size) throw MapError(size_changed(st.st_size, expected_size));
    size_ = static_cast<size_t>(st.st_size);
    if (size_ == 0) return;
    // A mapping's length is whole pages; guard them all.
    const size_t span = (size_ + page_size() - 1) & ~(page_size() - 1);
    install_guard();
    void* data = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (data == MAP_FAILED) throw MapError(label_ + ": cannot map: " + errno_message(errno));
    data_ = static_cast<char*>(data);
    slot_ = guard_range(reinterpret_cast<uintptr_t>(data_), reinterpret_cast<uintptr_t>(data_) + span);
    if (slot_ < 0) {
      ::munmap(data_, size_);
      throw MapError(label_ + ": too many mapped files at once (" + std::to_string(kGuardSlots) + ")");
    }
    fd_ = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);  // for the size checks, whatever the caller does with its fd
  }
  ~Mapping() {
    if (data_ != nullptr) {
      unguard_range(slot_);
      ::munmap(data_, size_);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  char* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& label() const { return label_; }

  // Fails when the file no longer has the size it was mapped with.
  void check_size() const {
    struct stat st {};
    if (fd_ >= 0 && ::fstat(fd_, &st) == 0 && static_cast<size_t>(st.st_size) != size_)
      throw MapError(size_changed(st.st_size, static_cast<int64_t>(size_)));
  }

 private:
  std::string size_changed(int64_t now, int64_t expected) const {
    return label_ + ": the file is " + std::to_string(now) + " bytes, not the " + std::to_string(expected) +
           " it had when it was opened (it changed underneath; open it again)";
  }
  std::string label_;
  char* data_ = nullptr;
  size_t size_ = 0;
  int slot_ = -1;
  int fd_ = -1;
};

// Storage context of a tensor over a mapping: holds the mapping alive.
struct Region {
  std::shared_ptr<Mapping> mapping;
};
void release_region(void* context) { delete static_cast<Region*>(context); }

struct Registry {
  std::mutex mutex;
  std::unordered_map<int64_t, std::shared_ptr<Mapping>> mappings;
  int64_t next_id = 1;
};
Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: tensors may outlive static destruction
  return *r;
}

std::shared_ptr<Mapping> find_mapping(int64_t id) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = r.mappings.find(id);
  if (it == r.mappings.end()) throw ArgumentError("mapped file " + std::to_string(id) + " is not mapped (unmapped already?)");
  return it->second;
}

void check_range(const Mapping& m, int64_t offset, int64_t length, const char* fn) {
  if (offset < 0 || length < 0 || static_cast<uint64_t>(offset) + static_cast<uint64_t>(length) > m.size())
    throw ArgumentError(m.label() + ": " + fn + ": bytes [" + std::to_string(offset) + ", " + std::to_string(offset + length) +
                        ") lie outside the " + std::to_string(m.size()) + "-byte file");
}

// mapFile(fd, label, expectedSize): maps the open file, refusing one whose size is not expectedSize. Returns an id.
napi_value map_file(napi_env env, napi_callback_info info) {
  LT_ARGS(3);
  LT_TRY
  const int64_t fd = arg_int(env, argv[0]);
  if (fd < 0 || fd > INT32_MAX) throw ArgumentError("mapFile: invalid file descriptor " + std::to_string(fd));
  auto mapping = std::make_shared<Mapping>(static_cast<int>(fd), arg_string(env, argv[1]), arg_int(env, argv[2]));
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  const int64_t id = r.next_id++;
  r.mappings.emplace(id, std::move(mapping));
  return make_int(env, id);
  LT_CATCH_PLAIN("mapFile")
}

// unmapFile(id): drops the file's reference; the mapping goes when the last tensor over it is freed.
napi_value unmap_file(napi_env env, napi_callback_info info) {
  LT_ARGS(1);
  LT_TRY
  const int64_t id = arg_int(env, argv[0]);
  std::shared_ptr<Mapping> dropped;  // unmapped outside the lock
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    auto it = r.mappings.find(id);
    if (it != r.mappings.end()) dropped = std::move(it->second), r.mappings.erase(it);
  }
  return make_bool(env, dropped != nullptr);
  LT_CATCH_PLAIN("unmapFile")
}

// mappedResidentFraction(id, offset, length): the share of the range's pages in the page cache (mincore).
napi_value mapped_resident_fraction(napi_env env, napi_callback_info info) {
  LT_ARGS(3);
  LT_TRY
  const auto m = find_mapping(arg_int(env, argv[0]));
  const int64_t offset = arg_int(env, argv[1]), length = arg_int(env, argv[2]);
  check_range(*m, offset, length, "mappedResidentFraction");
  if (length == 0) return make_double(env, 1.0);
  const uintptr_t first = (reinterpret_cast<uintptr_t>(m->data()) + offset) & ~(uintptr_t(page_size()) - 1);
  const uintptr_t last = reinterpret_cast<uintptr_t>(m->data()) + offset + length;
  const size_t pages = (last - first + page_size() - 1) / page_size();
  std::vector<unsigned char> resident(pages);
  if (::mincore(reinterpret_cast<void*>(first), last - first, resident.data()) != 0)
    throw MapError(m->label() + ": mincore failed: " + errno_message(errno));
  size_t count = 0;
  for (unsigned char r : resident) count += r & 1;
  return make_double(env, static_cast<double>(count) / static_cast<double>(pages));
  LT_CATCH_PLAIN("mappedResidentFraction")
}

// mappedTensor(id, offset, length, dtype, shape): a CPU tensor over the mapped bytes, or null when the
// bytes are not aligned for the dtype (the caller then reads a copy). Its pages are faulted in now.
napi_value mapped_tensor(napi_env env, napi_callback_info info) {
  LT_ARGS(5);
  LT_TRY
  auto m = find_mapping(arg_int(env, argv[0]));
  const int64_t offset = arg_int(env, argv[1]), length = arg_int(env, argv[2]);
  const c10::ScalarType dtype = arg_dtype(env, argv[3]);
  const std::vector<int64_t> shape = arg_int_list(env, argv[4]);
  check_range(*m, offset, length, "mappedTensor");
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (d < 0) throw ArgumentError("mappedTensor: negative dimension in shape " + c10::str(c10::IntArrayRef(shape)));
    numel *= d;
  }
  const int64_t item = static_cast<int64_t>(c10::elementSize(dtype));
  if (numel * item != length)
    throw ArgumentError(m->label() + ": mappedTensor: " + std::to_string(length) + " bytes cannot hold shape " +
                        c10::str(c10::IntArrayRef(shape)) + " of " + dtype_name(dtype));
  char* data = m->data() + offset;
  if (reinterpret_cast<uintptr_t>(data) % static_cast<uintptr_t>(item) != 0) return make_null(env);
  m->check_size();
  if (length > 0) {
    const uintptr_t first = reinterpret_cast<uintptr_t>(data) & ~(uintptr_t(page_size()) - 1);
    const size_t span = reinterpret_cast<uintptr_t>(data) + length - first;
    // Faults the pages in read-only (no copies); a short file answers EFAULT here instead of a SIGBUS later.
    if (::madvise(reinterpret_cast<void*>(first), span, MADV_POPULATE_READ) != 0 && errno != EINVAL)
      throw MapError(m->label() + ": cannot read the mapped bytes [" + std::to_string(offset) + ", " + std::to_string(offset + length) +
                     "): " + errno_message(errno) + " (did the file shrink?)");
  }
  at::Tensor t = at::for_blob(data, shape)
                     .context(new Region{std::move(m)}, release_region)
                     .options(at::TensorOptions().dtype(dtype))
                     .make_tensor();
  return make_tensor(env, std::move(t));
  LT_CATCH_PLAIN("mappedTensor")
}

// mappedFileFaults(): how many SIGBUS faults in mapped files (truncated after loading) were answered with zero pages.
napi_value mapped_file_faults(napi_env env, napi_callback_info) {
  return make_int(env, g_faults.load());
}

}  // namespace

bool is_file_mapped(const at::Storage& storage) { return storage.data_ptr().get_deleter() == &release_region; }

void register_mapped_file(napi_env env, napi_value exports) {
  register_exports(env, exports,
                   {{"mapFile", map_file},
                    {"unmapFile", unmap_file},
                    {"mappedResidentFraction", mapped_resident_fraction},
                    {"mappedTensor", mapped_tensor},
                    {"mappedFileFaults", mapped_file_faults}});
}

}  // namespace lt
