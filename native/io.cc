// Reading tensor bytes from files straight into tensor memory (safetensors loading).
//
// readTensor allocates the CPU tensor first and has the kernel copy the file's bytes into its storage
// with pread(2): the bytes never pass through JavaScript memory, and nothing is mapped, so the tensor
// owns its data outright and outlives the file. On a warm page cache the cost is the kernel's copy
// into memory that is not yet in any cache, plus the first-touch page faults of the new storage (made
// 512 times rarer by asking for huge pages). Callers with idle cores can have large tensors read by
// several threads in parallel chunks; on a busy machine one thread is faster.
#include "common.h"

#include <ATen/ops/empty.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <sstream>
#include <system_error>
#include <thread>
#include <vector>

namespace lt {
namespace {

// Largest single pread: Linux transfers at most 0x7ffff000 bytes per call anyway, and chunks are the
// unit of work handed to reader threads.
constexpr size_t kChunkBytes = size_t(16) << 20;
// Below this a single thread reads: starting threads costs more than it saves.
constexpr size_t kParallelMinBytes = size_t(32) << 20;
constexpr int64_t kMaxReaderThreads = 64;
constexpr size_t kHugePageBytes = size_t(2) << 20;

// Reads fail with this; errors.cc reports it as a RuntimeError carrying the message.
struct IoError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// strerror_r returns the message (GNU, possibly not in the buffer) or a status (XSI, message in the buffer).
[[maybe_unused]] const char* strerror_message(const char* gnu_result, const char*) { return gnu_result; }
[[maybe_unused]] const char* strerror_message(int, const char* buffer) { return buffer; }

std::string errno_text(int err) {
  char buffer[256] = "unknown error";
  return strerror_message(strerror_r(err, buffer, sizeof buffer), buffer);
}

// An open file: either borrowed from the caller (an fd) or opened here from a path and closed on exit.
class Source {
 public:
  Source(int fd, std::string label) : fd_(fd), label_(std::move(label)), owned_(false) {}
  explicit Source(const std::string& path) : label_(path), owned_(true) {
    do fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    while (fd_ < 0 && errno == EINTR);
    if (fd_ < 0) throw IoError(path + ": cannot open: " + errno_text(errno));
  }
  ~Source() {
    if (owned_) ::close(fd_);
  }
  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;
  int fd() const { return fd_; }
  const std::string& label() const { return label_; }

 private:
  int fd_;
  std::string label_;
  bool owned_;
};

// Fills [target, target + length) from absolute file offset `offset`, looping over short reads and
// EINTR. Running past the end of the file is an error (the file shrank, or the caller's offsets are wrong).
void read_fully(const Source& source, char* target, size_t length, int64_t offset) {
  size_t done = 0;
  while (done < length) {
    const size_t want = std::min(length - done, kChunkBytes);
    const ssize_t got = ::pread(source.fd(), target + done, want, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      std::ostringstream msg;
      msg << source.label() << ": read failed at offset " << offset + done << ": " << errno_text(err);
      throw IoError(msg.str());
    }
    if (got == 0) {
      std::ostringstream msg;
      msg << source.label() << ": unexpected end of file at offset " << offset + done << " (needed " << length - done
          << " more bytes; was the file truncated after it was opened?)";
      throw IoError(msg.str());
    }
    done += static_cast<size_t>(got);
  }
}

// Large fresh allocations are anonymous mappings whose pages are faulted in one 4 KiB page at a time
// by the kernel's copy; asking for transparent huge pages cuts those faults 512-fold. Advice only:
// where THP is off or the range is too small, nothing changes.
void advise_huge_pages(char* data, size_t length) {
#ifdef MADV_HUGEPAGE
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + kHugePageBytes - 1) & ~(kHugePageBytes - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + length) & ~(kHugePageBytes - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)data, (void)length;
#endif
}

// Reads `length` bytes at `offset` into `target` with up to `max_threads` threads (the caller's
// included), each taking the next chunk until none is left or one failed. Chunks are taken in order
// and a taken chunk is always finished, so the error rethrown here is that of the first bad chunk.
void read_parallel(const Source& source, char* target, size_t length, int64_t offset, unsigned max_threads) {
  const size_t chunks = (length + kChunkBytes - 1) / kChunkBytes;
  const unsigned threads = length < kParallelMinBytes ? 1 : static_cast<unsigned>(std::min<size_t>(max_threads, chunks));
  if (threads <= 1) return read_fully(source, target, length, offset);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::exception_ptr error;
  size_t error_chunk = SIZE_MAX;
  auto work = [&] {
    for (size_t chunk; !failed.load(std::memory_order_relaxed) && (chunk = next.fetch_add(1)) < chunks;) {
      const size_t begin = chunk * kChunkBytes;
      try {
        read_fully(source, target + begin, std::min(kChunkBytes, length - begin), offset + static_cast<int64_t>(begin));
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (chunk < error_chunk) error_chunk = chunk, error = std::current_exception();
        failed = true;
      }
    }
  };
  std::vector<std::thread> helpers;
  helpers.reserve(threads - 1);
  try {
    for (unsigned i = 1; i < threads; ++i) helpers.emplace_back(work);
  } catch (const std::system_error&) {
    // No thread could be started (resource limits): the calling thread reads everything below.
  }
  work();
  for (auto& t : helpers) t.join();
  if (error) std::rethrow_exception(error);
}

int64_t checked_numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw ArgumentError("readTensor: negative dimension in shape " + c10::str(c10::IntArrayRef(shape)));
    if (d != 0 && n > (int64_t(1) << 62) / d) throw ArgumentError("readTensor: shape " + c10::str(c10::IntArrayRef(shape)) + " is too large");
    n *= d;
  }
  return n;
}

// The file to read: a path (string) or an open descriptor (number), with the label errors name.
std::unique_ptr<Source> arg_source(napi_env env, const char* fn, napi_value source, napi_value label) {
  if (type_of(env, source) == napi_string) return std::make_unique<Source>(arg_string(env, source));
  if (type_of(env, source) != napi_number) throw ArgumentError(std::string(fn) + ": expected a file path or an open file descriptor");
  const int64_t fd = arg_int(env, source);
  if (fd < 0 || fd > INT32_MAX) throw ArgumentError(std::string(fn) + ": invalid file descriptor " + std::to_string(fd));
  std::string name = is_nullish(env, label) ? "file descriptor " + std::to_string(fd) : arg_string(env, label);
  return std::make_unique<Source>(static_cast<int>(fd), std::move(name));
}

// readTensor(pathOrFd, byteOffset, byteLength, dtype, shape, label?, threads?): a new contiguous CPU
// tensor of `dtype` and `shape` holding the `byteLength` bytes found at `byteOffset` (little-endian,
// row-major, as safetensors stores them). `label` names the file in errors when a descriptor is given;
// `threads` (default 1) reader threads share tensors of 32 MiB and more.
napi_value read_tensor(napi_env env, napi_callback_info info) {
  LT_ARGS(7);
  LT_TRY
  const std::unique_ptr<Source> source = arg_source(env, "readTensor", argv[0], argv[5]);
  const int64_t offset = arg_int(env, argv[1]);
  const int64_t length = arg_int(env, argv[2]);
  const c10::ScalarType dtype = arg_dtype(env, argv[3]);
  const std::vector<int64_t> shape = arg_int_list(env, argv[4]);
  const int64_t threads = is_nullish(env, argv[6]) ? 1 : arg_int(env, argv[6]);
  if (offset < 0) throw ArgumentError(source->label() + ": readTensor: negative byte offset " + std::to_string(offset));
  if (threads < 1 || threads > kMaxReaderThreads)
    throw ArgumentError("readTensor: threads must be between 1 and " + std::to_string(kMaxReaderThreads) + ", got " + std::to_string(threads));
  const int64_t need = checked_numel(shape) * static_cast<int64_t>(c10::elementSize(dtype));
  if (length != need) {
    throw c10::ValueError({__func__, __FILE__, static_cast<uint32_t>(__LINE__)},
                          source->label() + ": readTensor: " + std::to_string(length) + " bytes at offset " + std::to_string(offset) +
                              " cannot hold shape " + c10::str(c10::IntArrayRef(shape)) + " of " + dtype_name(dtype) + ", which needs " +
                              std::to_string(need));
  }
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
  if (length > 0) {
    char* data = static_cast<char*>(t.data_ptr());
    advise_huge_pages(data, static_cast<size_t>(length));
    read_parallel(*source, data, static_cast<size_t>(length), offset, static_cast<unsigned>(threads));
  }
  return make_tensor(env, std::move(t));
  LT_CATCH_PLAIN("readTensor")
}

// evictFromPageCache(pathOrFd): asks the kernel to drop the file's cached pages (posix_fadvise
// DONTNEED), so that the next read comes from the disk; for cold-cache benchmarks. Needs no privilege;
// pages that are dirty or mapped elsewhere stay.
napi_value evict_from_page_cache(napi_env env, napi_callback_info info) {
  LT_ARGS(1);
  LT_TRY
  const std::unique_ptr<Source> source = arg_source(env, "evictFromPageCache", argv[0], make_undefined(env));
#ifdef POSIX_FADV_DONTNEED
  const int err = ::posix_fadvise(source->fd(), 0, 0, POSIX_FADV_DONTNEED);
  if (err != 0) throw IoError(source->label() + ": posix_fadvise(DONTNEED) failed: " + errno_text(err));
#else
  throw IoError(source->label() + ": evictFromPageCache needs posix_fadvise, which this platform lacks");
#endif
  return make_undefined(env);
  LT_CATCH_PLAIN("evictFromPageCache")
}

}  // namespace

void register_io(napi_env env, napi_value exports) {
  register_exports(env, exports, {{"readTensor", read_tensor}, {"evictFromPageCache", evict_from_page_cache}});
}

}  // namespace lt
