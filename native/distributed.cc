// torch.distributed's c10d for data-parallel training: a process group is a TCPStore rendezvous (rank 0
// hosts the store) plus a Gloo backend (CPU tensors; part of every libtorch built with distributed) or an
// NCCL backend (CUDA tensors; CUDA builds whose libtorch has NCCL and whose nccl.h is on the include path).
//
// Collectives block the calling (JS) thread until they complete, which is what a synchronous training
// loop wants. They never block forever: Gloo fails a collective after the group's timeout, and a peer
// that exits closes its sockets, which fails the collective at once; NCCL's watchdog enforces the same
// timeout. Failures are thrown as DistributedError with the rank, the operation and what to check.
//
// Lists of tensors are packed into buckets (flat buffers of at most `bucketBytes`, one dtype and device
// each) so that many small tensors (gradients) cost few collectives; all buckets are launched before the
// first is waited on, so Gloo's worker threads pipeline them. A lone contiguous tensor is reduced in place.
//
// Gloo's headers do not ship with torch's wheels: native/gloo/ declares what ProcessGroupGloo.hpp names
// (see native/gloo/README.md).
#include "common.h"

#include <c10/core/GradMode.h>
#include <c10/util/Logging.h>

#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <random>
#include <sstream>
#include <unordered_set>

#if defined(USE_DISTRIBUTED) && __has_include(<torch/csrc/distributed/c10d/TCPStore.hpp>)
#define LT_WITH_C10D 1
#include <ATen/ops/cat.h>
#include <ATen/ops/empty_like.h>
#include <arpa/inet.h>
#include <c10/util/hash.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>
#ifdef USE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
// NCCL only in CUDA builds of the addon whose libtorch has it, and only where ProcessGroupNCCL.hpp can
// compile: it needs nccl.h and the CUDA math headers of ATen/cuda (a full toolkit has the latter; the
// pip CUDA wheels keep all of them in site-packages/nvidia/*/include).
#if defined(LT_WITH_CUDA) && defined(USE_C10D_NCCL) && __has_include(<nccl.h>) && __has_include(<cublas_v2.h>) && \
    __has_include(<cusparse.h>) && __has_include(<cusolverDn.h>)
#define LT_WITH_NCCL 1
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#endif

namespace lt {
namespace {

// ---- small N-API helpers local to this file ----

void set_prop(napi_env env, napi_value obj, const char* name, napi_value v) { napi_set_named_property(env, obj, name, v); }

std::vector<std::string> arg_string_list(napi_env env, napi_value v, const char* what) {
  bool is_array = false;
  napi_is_array(env, v, &is_array);
  if (!is_array) throw ArgumentError(std::string("expected ") + what + " to be an array of strings");
  uint32_t n = 0;
  napi_get_array_length(env, v, &n);
  std::vector<std::string> out;
  for (uint32_t i = 0; i < n; ++i) {
    napi_value e;
    napi_get_element(env, v, i, &e);
    out.push_back(arg_string(env, e));
  }
  return out;
}

// A failed collective or rendezvous: thrown to JS as DistributedError (see DIST_CATCH).
struct DistributedError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The message of the exception in flight, without libtorch's C++ backtrace.
std::string current_message() {
  std::string msg;
  try {
    throw;
  } catch (const c10::Error& e) {
    msg = e.what_without_backtrace();
  } catch (const std::exception& e) {
    msg = e.what();
  } catch (...) {
    msg = "unknown C++ exception";
  }
  auto pos = msg.find("Exception raised from ");
  if (pos != std::string::npos) msg.erase(pos);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  return msg;
}

// Communication failures are DistributedError; argument errors ValueError (std::invalid_argument) or
// what the addon's usual translation makes of them (TypeError, DisposedTensorError, RuntimeError, ...).
#define DIST_CATCH(op)                                                       \
  }                                                                          \
  catch (const DistributedError& e) {                                        \
    throw_js_error(env, "DistributedError", e.what());                       \
    return nullptr;                                                          \
  }                                                                          \
  catch (const std::invalid_argument& e) {                                   \
    throw_js_error(env, "ValueError", std::string(e.what()) + "\n  in " op); \
    return nullptr;                                                          \
  }                                                                          \
  catch (...) {                                                              \
    throw_current_exception(env, op, nullptr, 0, 0);                         \
    return nullptr;                                                          \
  }

#ifdef LT_WITH_C10D

// ---- the process group object ----

struct GroupBox {
  napi_env env;
  std::string backend;
  int rank = 0;
  int size = 1;
  std::chrono::milliseconds timeout{0};
  std::string endpoint;  // MASTER_ADDR:MASTER_PORT, for messages
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> pg;  // null once destroyed

  std::string where() const {
    std::ostringstream s;
    s << "rank " << rank << " of " << size << " (" << backend << ", rendezvous " << endpoint << ", timeout "
      << timeout.count() / 1000.0 << " s)";
    return s.str();
  }

  // Idempotent. Stops the backend's threads and closes its connections; rank 0 also stops the store.
  void destroy() noexcept {
    if (pg) {
      try {
        pg->shutdown();
      } catch (...) {
      }
      pg.reset();
    }
    store.reset();
  }
};

// Groups alive per environment, destroyed when the environment goes away (process exit) so that no
// Gloo thread outlives libtorch's static state.
std::mutex g_live_mutex;
std::unordered_set<GroupBox*> g_live;

constexpr napi_type_tag kGroupTag = {0x6c74'6469'7374'7067ULL, 0x51a3'c0de'9e1b'77f1ULL};

void finalize_group(napi_env, void* data, void*) {
  auto* box = static_cast<GroupBox*>(data);
  {
    std::lock_guard<std::mutex> lock(g_live_mutex);
    g_live.erase(box);
  }
  box->destroy();
  delete box;
}

void cleanup_env(void* arg) {
  auto env = static_cast<napi_env>(arg);
  std::lock_guard<std::mutex> lock(g_live_mutex);
  for (GroupBox* box : g_live)
    if (box->env == env) box->destroy();
}

GroupBox& box_of(napi_env env, napi_value v) {
  bool tagged = false;
  if (type_of(env, v) != napi_external || napi_check_object_type_tag(env, v, &kGroupTag, &tagged) != napi_ok || !tagged)
    throw ArgumentError("expected a native process group");
  void* data = nullptr;
  napi_get_value_external(env, v, &data);
  return *static_cast<GroupBox*>(data);
}

GroupBox& live_group(napi_env env, napi_value v, const char* op) {
  GroupBox& box = box_of(env, v);
  if (!box.pg) throw DistributedError(std::string(op) + ": the process group of " + box.where() + " has been destroyed");
  return box;
}

// c10d logs every failed connection attempt of a rendezvous (with a C++ backtrace) while it retries;
// the error thrown at the end says what failed, so keep those retries quiet.
class QuietRendezvousLogs {
 public:
  QuietRendezvousLogs() : saved_(FLAGS_caffe2_log_level) { FLAGS_caffe2_log_level = std::max(saved_, 3); }
  ~QuietRendezvousLogs() { FLAGS_caffe2_log_level = saved_; }

 private:
  int saved_;
};

// ---- rendezvous safety: loopback-only store, shared-secret handshake ----

// Whether rank 0 can listen on the master address itself: a numeric IP (or localhost).
bool is_numeric_address(const std::string& a) {
  in_addr v4{};
  in6_addr v6{};
  return a == "localhost" || inet_pton(AF_INET, a.c_str(), &v4) == 1 || inet_pton(AF_INET6, a.c_str(), &v6) == 1;
}

// A listening socket on the master address itself, for TCPStore to take over (masterListenFd):
// TCPStore alone binds every interface, so a loopback master would be reachable from the network.
int listen_on_address(const std::string& addr, uint16_t port) {
  in6_addr v6addr{};
  const bool v6 = inet_pton(AF_INET6, addr.c_str(), &v6addr) == 1;
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw DistributedError(std::string("socket(): ") + std::strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc;
  if (v6) {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(port);
    sa.sin6_addr = v6addr;
    rc = bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  } else {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    inet_pton(AF_INET, addr == "localhost" ? "127.0.0.1" : addr.c_str(), &sa.sin_addr);
    rc = bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  }
  if (rc != 0 || listen(fd, SOMAXCONN) != 0) {
    std::string why = std::strerror(errno);
    close(fd);
    throw DistributedError("rank 0 cannot listen on " + addr + ":" + std::to_string(port) + ": " + why + " (is the port in use?)");
  }
  return fd;
}

std::string sha1_raw(const std::string& data) {
  // c10::sha1 gives the digest as hex only
  const std::string hex = c10::sha1(data).str();
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// HMAC-SHA1 (RFC 2104), hex.
std::string hmac(const std::string& key, const std::string& message) {
  std::string k = key.size() > 64 ? sha1_raw(key) : key;
  k.resize(64, '\0');
  std::string inner(64, '\0'), outer(64, '\0');
  for (int i = 0; i < 64; ++i) inner[i] = static_cast<char>(k[i] ^ 0x36), outer[i] = static_cast<char>(k[i] ^ 0x5c);
  std::string mac = sha1_raw(outer + sha1_raw(inner + message));
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : mac) out += hex[c >> 4], out += hex[c & 15];
  return out;
}

// A rank that does not hold the job's secret (or a store that is not rank 0's).
struct AuthError : DistributedError {
  using DistributedError::DistributedError;
};

std::vector<uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }
std::string string_of(const std::vector<uint8_t>& v) { return {v.begin(), v.end()}; }

std::string random_nonce() {
  std::random_device rd;
  std::string out;
  for (int i = 0; i < 4; ++i) out += std::to_string(rd());
  return hmac(out, "nonce");
}

// Every rank proves it holds the job's secret: rank 0 publishes a nonce, each rank answers with
// HMAC(secret, nonce:rank), rank 0 checks each answer and returns its own proof (so a rank also knows
// the store is rank 0's). Returns the key prefix the job's own keys live under, derived from the secret
// and the nonce, so that a client without the secret can neither read nor plant them by name.
std::string authenticate(c10d::Store& store, const std::string& secret, int rank, int size) {
  if (rank == 0) {
    const std::string nonce = random_nonce();
    store.set("lt-auth/nonce", bytes_of(nonce));
    std::vector<int> wrong;
    for (int r = 1; r < size; ++r) {
      const std::string key = "lt-auth/rank/" + std::to_string(r);
      bool ok = string_of(store.get(key)) == hmac(secret, nonce + ":" + std::to_string(r));
      store.set("lt-auth/verdict/" + std::to_string(r), bytes_of(ok ? hmac(secret, "ok:" + nonce + ":" + std::to_string(r)) : "rejected"));
      if (!ok) wrong.push_back(r);
    }
    if (!wrong.empty()) {
      // Stay up until the turned-away ranks have read why (briefly: they may be gone already).
      for (int r : wrong) {
        try {
          store.wait({"lt-auth/ack/" + std::to_string(r)}, std::chrono::seconds(3));
        } catch (...) {
        }
      }
      std::string list;
      for (int r : wrong) list += (list.empty() ? "" : ", ") + std::to_string(r);
      throw AuthError("rank(s) " + list + " did not present this job's secret (LT_DIST_SECRET differs or is missing there)");
    }
    return "lt/" + hmac(secret, "prefix:" + nonce) + "/";
  }
  const std::string nonce = string_of(store.get("lt-auth/nonce"));
  store.set("lt-auth/rank/" + std::to_string(rank), bytes_of(hmac(secret, nonce + ":" + std::to_string(rank))));
  const std::string verdict = string_of(store.get("lt-auth/verdict/" + std::to_string(rank)));
  store.set("lt-auth/ack/" + std::to_string(rank), bytes_of("read"));
  if (verdict != hmac(secret, "ok:" + nonce + ":" + std::to_string(rank)))
    throw AuthError(verdict == "rejected" ? "rank 0 rejected this rank's secret (LT_DIST_SECRET differs from rank 0's)"
                                                 : "the rendezvous store did not prove it knows this job's secret (is it rank 0 of this job?)");
  return "lt/" + hmac(secret, "prefix:" + nonce) + "/";
}

// ---- backend construction ----

c10::intrusive_ptr<c10d::Backend> make_gloo(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                            std::chrono::milliseconds timeout, const std::string& hostname,
                                            const std::vector<std::string>& interfaces) {
#ifdef USE_C10D_GLOO
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  if (!interfaces.empty()) {
    for (const auto& name : interfaces) options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
  } else if (!hostname.empty()) {
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(hostname));
  } else {
    options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  }
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, options);
#else
  (void)store, (void)rank, (void)size, (void)timeout, (void)hostname, (void)interfaces;
  TORCH_INTERNAL_ASSERT(false, "make_gloo without Gloo: dist_init checks gloo_unavailable_reason() first");
#endif
}

// Why a backend cannot be used by this build, or null.
const char* gloo_unavailable_reason() {
#ifdef USE_C10D_GLOO
  return nullptr;
#else
  return "this libtorch (" TORCH_VERSION ") was built without it (USE_C10D_GLOO)";
#endif
}

const char* nccl_unavailable_reason() {
#if defined(LT_WITH_NCCL)
  return nullptr;
#elif !defined(LT_WITH_CUDA)
  return "the addon was built without CUDA (NCCL needs a CUDA libtorch)";
#elif !defined(USE_C10D_NCCL)
  return "this CUDA libtorch was built without NCCL (USE_C10D_NCCL)";
#else
  return "nccl.h or the CUDA math headers (cublas_v2.h, cusparse.h, cusolverDn.h) were not on the addon's include path when it was built";
#endif
}

c10::intrusive_ptr<c10d::Backend> make_nccl(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                            std::chrono::milliseconds timeout, int64_t device) {
#ifdef LT_WITH_NCCL
  if (device >= 0) c10::cuda::set_device(static_cast<c10::DeviceIndex>(device));
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, options);
#else
  (void)store, (void)rank, (void)size, (void)timeout, (void)device;
  TORCH_INTERNAL_ASSERT(false, "make_nccl without NCCL: dist_init checks nccl_unavailable_reason() first");
#endif
}

// distInit({backend, rank, worldSize, masterAddr, masterPort, timeoutMs, hostname?, interfaces?, device?})
// Blocks until every rank has joined (or the timeout passes).
napi_value dist_init(napi_env env, napi_callback_info info) {
  LT_ARGS(1);
  try {
    if (type_of(env, argv[0]) != napi_object) throw ArgumentError("distInit expects an options object");
    napi_value o = argv[0];
    std::string backend = arg_string(env, get_prop(env, o, "backend"));
    int64_t rank = arg_int(env, get_prop(env, o, "rank"));
    int64_t size = arg_int(env, get_prop(env, o, "worldSize"));
    std::string addr = arg_string(env, get_prop(env, o, "masterAddr"));
    int64_t port = arg_int(env, get_prop(env, o, "masterPort"));
    int64_t timeout_ms = arg_int(env, get_prop(env, o, "timeoutMs"));
    std::string hostname = has_prop(env, o, "hostname") ? arg_string(env, get_prop(env, o, "hostname")) : "";
    std::vector<std::string> interfaces = has_prop(env, o, "interfaces")
                                              ? arg_string_list(env, get_prop(env, o, "interfaces"), "interfaces")
                                              : std::vector<std::string>{};
    int64_t device = has_prop(env, o, "device") ? arg_int(env, get_prop(env, o, "device")) : -1;
    std::string secret = has_prop(env, o, "secret") ? arg_string(env, get_prop(env, o, "secret")) : "";

    if (backend != "gloo" && backend != "nccl") throw std::invalid_argument("backend must be 'gloo' or 'nccl', got '" + backend + "'");
    if (size < 1) throw std::invalid_argument("worldSize must be >= 1, got " + std::to_string(size));
    if (rank < 0 || rank >= size)
      throw std::invalid_argument("rank must be in [0, " + std::to_string(size) + "), got " + std::to_string(rank));
    if (port < 1 || port > 65535) throw std::invalid_argument("masterPort must be in [1, 65535], got " + std::to_string(port));
    if (timeout_ms < 1) throw std::invalid_argument("timeoutMs must be positive, got " + std::to_string(timeout_ms));
    if (addr.empty()) throw std::invalid_argument("masterAddr is empty");
    if (size > 1 && secret.empty())
      throw std::invalid_argument("a group of several ranks needs the job's shared secret (LT_DIST_SECRET; `latent launch` sets one)");
    if (const char* reason = backend == "gloo" ? gloo_unavailable_reason() : nccl_unavailable_reason())
      throw std::invalid_argument((backend == "gloo" ? "the Gloo backend is unavailable: " : "the NCCL backend is unavailable: ") + std::string(reason));

    auto box = std::make_unique<GroupBox>();
    box->env = env;
    box->backend = backend;
    box->rank = static_cast<int>(rank);
    box->size = static_cast<int>(size);
    box->timeout = std::chrono::milliseconds(timeout_ms);
    box->endpoint = addr + ":" + std::to_string(port);

    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(port);
    so.isServer = rank == 0;
    so.numWorkers = static_cast<size_t>(size);
    so.waitWorkers = true;
    so.timeout = box->timeout;
    QuietRendezvousLogs quiet;
    try {
      if (rank == 0 && is_numeric_address(addr)) so.masterListenFd = listen_on_address(addr, so.port);
      auto tcp = c10::make_intrusive<c10d::TCPStore>(addr, so);
      if (size > 1)
        box->store = c10::make_intrusive<c10d::PrefixStore>(authenticate(*tcp, secret, box->rank, box->size), tcp);
      else
        box->store = tcp;
    } catch (const AuthError& e) {
      throw DistributedError("rendezvous refused for " + box->where() + ": " + e.what());
    } catch (...) {
      std::string hint = rank == 0 ? "rank 0 hosts the store on port " + std::to_string(port) + " and waits for all " +
                                         std::to_string(size) + " ranks to connect: were they all started, and was the port free?"
                                   : "rank " + std::to_string(rank) + " connects to the store hosted by rank 0: is rank 0 running, and can this host reach " +
                                         box->endpoint + "?";
      throw DistributedError("rendezvous failed for " + box->where() + ": " + current_message() + "\n  " + hint);
    }
    try {
      box->pg = backend == "gloo" ? make_gloo(box->store, box->rank, box->size, box->timeout, hostname, interfaces)
                                  : make_nccl(box->store, box->rank, box->size, box->timeout, device);
    } catch (...) {
      throw DistributedError("connecting the " + backend + " process group failed for " + box->where() + ": " + current_message());
    }

    napi_value ext;
    GroupBox* raw = box.release();
    napi_create_external(env, raw, finalize_group, nullptr, &ext);
    napi_type_tag_object(env, ext, &kGroupTag);
    std::lock_guard<std::mutex> lock(g_live_mutex);
    g_live.insert(raw);
    return ext;
  DIST_CATCH("distInit")
}

// ---- collectives ----

enum class Reduce { Sum, Avg, Max, Min, Product };

Reduce parse_reduce(const std::string& s) {
  if (s == "sum") return Reduce::Sum;
  if (s == "avg") return Reduce::Avg;
  if (s == "max") return Reduce::Max;
  if (s == "min") return Reduce::Min;
  if (s == "product") return Reduce::Product;
  throw std::invalid_argument("reduce op must be 'sum', 'avg', 'max', 'min' or 'product', got '" + s + "'");
}

// Gloo has no AVG: it sums, and the caller divides.
bool native_avg(const GroupBox& box) { return box.backend == "nccl"; }

c10d::ReduceOp to_c10d(Reduce op, const GroupBox& box) {
  switch (op) {
    case Reduce::Sum: return c10d::ReduceOp::SUM;
    case Reduce::Avg: return native_avg(box) ? c10d::ReduceOp::AVG : c10d::ReduceOp::SUM;
    case Reduce::Max: return c10d::ReduceOp::MAX;
    case Reduce::Min: return c10d::ReduceOp::MIN;
    case Reduce::Product: return c10d::ReduceOp::PRODUCT;
  }
  return c10d::ReduceOp::SUM;
}

[[noreturn]] void collective_failed(const GroupBox& box, const char* op) {
  throw DistributedError(std::string(op) + " failed on " + box.where() + ": " + current_message() +
                         "\n  a peer rank probably exited or crashed, stopped calling collectives, or called them in a different "
                         "order or with different shapes; see the other ranks' output");
}

void wait_for(const GroupBox& box, const c10::intrusive_ptr<c10d::Work>& work, const char* op) {
  try {
    work->wait();
  } catch (...) {
    collective_failed(box, op);
  }
}

// Consecutive tensors of one dtype and device, packed into one flat buffer (or the tensor itself).
struct Bucket {
  std::vector<at::Tensor> members;
  at::Tensor flat;
  bool aliased = false;  // flat is a view of the single member: results land in place
  c10::intrusive_ptr<c10d::Work> work;

  void pack() {
    if (members.size() == 1 && members[0].is_contiguous()) {
      flat = members[0].view({-1});
      aliased = true;
      return;
    }
    std::vector<at::Tensor> parts;
    parts.reserve(members.size());
    for (const auto& m : members) parts.push_back(m.reshape({-1}));
    flat = at::cat(parts, 0);
  }
  void unpack() {
    if (aliased) return;
    int64_t offset = 0;
    for (auto& m : members) {
      m.copy_(flat.narrow(0, offset, m.numel()).view(m.sizes()));
      offset += m.numel();
    }
  }
};

std::vector<Bucket> make_buckets(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes, const char* op) {
  std::vector<Bucket> buckets;
  int64_t filled = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const at::Tensor& t = tensors[i];
    if (!t.defined()) throw std::invalid_argument(std::string(op) + ": tensor " + std::to_string(i) + " is undefined");
    if (t.layout() != c10::kStrided)
      throw std::invalid_argument(std::string(op) + ": tensor " + std::to_string(i) + " is not dense (" + describe_tensor(t) + ")");
    if (t.numel() == 0) continue;
    int64_t bytes = t.numel() * static_cast<int64_t>(t.element_size());
    bool joins = !buckets.empty() && buckets.back().members[0].scalar_type() == t.scalar_type() &&
                 buckets.back().members[0].device() == t.device() && filled + bytes <= bucket_bytes;
    if (!joins) {
      buckets.emplace_back();
      filled = 0;
    }
    buckets.back().members.push_back(t);
    filled += bytes;
  }
  return buckets;
}

int64_t arg_bucket_bytes(napi_env env, napi_value v) {
  int64_t b = arg_int(env, v);
  if (b < 1) throw std::invalid_argument("bucketBytes must be positive, got " + std::to_string(b));
  return b;
}

// distAllReduce(group, tensors, op, bucketBytes): in place on every tensor.
napi_value dist_all_reduce(napi_env env, napi_callback_info info) {
  LT_ARGS(4);
  try {
    GroupBox& box = live_group(env, argv[0], "allReduce");
    std::vector<at::Tensor> tensors = arg_tensor_list(env, argv[1]);
    Reduce op = parse_reduce(arg_string(env, argv[2]));
    int64_t bucket_bytes = arg_bucket_bytes(env, argv[3]);
    if (op == Reduce::Avg)
      for (const auto& t : tensors)
        if (t.defined() && !at::isFloatingType(t.scalar_type()) && !at::isComplexType(t.scalar_type()))
          throw std::invalid_argument("allReduce: 'avg' needs floating-point tensors, got " + describe_tensor(t));
    c10::NoGradGuard no_grad;
    std::vector<Bucket> buckets = make_buckets(tensors, bucket_bytes, "allReduce");
    c10d::AllreduceOptions opts;
    opts.reduceOp = to_c10d(op, box);
    try {
      for (auto& b : buckets) {
        b.pack();
        std::vector<at::Tensor> one{b.flat};
        b.work = box.pg->allreduce(one, opts);
      }
    } catch (...) {
      collective_failed(box, "allReduce");
    }
    for (auto& b : buckets) {
      wait_for(box, b.work, "allReduce");
      if (op == Reduce::Avg && !native_avg(box)) b.flat.div_(box.size);
      b.unpack();
    }
    return make_undefined(env);
  DIST_CATCH("distAllReduce")
}

// distBroadcast(group, tensors, root, bucketBytes): every rank's tensors become root's.
napi_value dist_broadcast(napi_env env, napi_callback_info info) {
  LT_ARGS(4);
  try {
    GroupBox& box = live_group(env, argv[0], "broadcast");
    std::vector<at::Tensor> tensors = arg_tensor_list(env, argv[1]);
    int64_t root = arg_int(env, argv[2]);
    int64_t bucket_bytes = arg_bucket_bytes(env, argv[3]);
    if (root < 0 || root >= box.size)
      throw std::invalid_argument("broadcast: root must be in [0, " + std::to_string(box.size) + "), got " + std::to_string(root));
    c10::NoGradGuard no_grad;
    std::vector<Bucket> buckets = make_buckets(tensors, bucket_bytes, "broadcast");
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    try {
      for (auto& b : buckets) {
        b.pack();
        std::vector<at::Tensor> one{b.flat};
        b.work = box.pg->broadcast(one, opts);
      }
    } catch (...) {
      collective_failed(box, "broadcast");
    }
    for (auto& b : buckets) {
      wait_for(box, b.work, "broadcast");
      b.unpack();
    }
    return make_undefined(env);
  DIST_CATCH("distBroadcast")
}

// distAllGather(group, tensor) -> [handle per rank]: every rank's tensor (same shape and dtype on all).
napi_value dist_all_gather(napi_env env, napi_callback_info info) {
  LT_ARGS(2);
  try {
    GroupBox& box = live_group(env, argv[0], "allGather");
    at::Tensor input = arg_tensor(env, argv[1]).contiguous();
    c10::NoGradGuard no_grad;
    std::vector<std::vector<at::Tensor>> outputs(1);
    for (int r = 0; r < box.size; ++r) outputs[0].push_back(at::empty_like(input, at::MemoryFormat::Contiguous));
    std::vector<at::Tensor> inputs{input};
    c10::intrusive_ptr<c10d::Work> work;
    try {
      work = box.pg->allgather(outputs, inputs);
    } catch (...) {
      collective_failed(box, "allGather");
    }
    wait_for(box, work, "allGather");
    napi_value arr;
    napi_create_array_with_length(env, outputs[0].size(), &arr);
    for (size_t r = 0; r < outputs[0].size(); ++r) napi_set_element(env, arr, r, make_tensor(env, outputs[0][r]));
    return arr;
  DIST_CATCH("distAllGather")
}

// distBarrier(group): returns once every rank has entered it.
napi_value dist_barrier(napi_env env, napi_callback_info info) {
  LT_ARGS(1);
  try {
    GroupBox& box = live_group(env, argv[0], "barrier");
    c10::intrusive_ptr<c10d::Work> work;
    try {
      work = box.pg->barrier();
    } catch (...) {
      collective_failed(box, "barrier");
    }
    wait_for(box, work, "barrier");
    return make_undefined(env);
  DIST_CATCH("distBarrier")
}

// distDestroy(group): idempotent.
napi_value dist_destroy(napi_env env, napi_callback_info info) {
  LT_ARGS(1);
  try {
    box_of(env, argv[0]).destroy();
    return make_undefined(env);
  DIST_CATCH("distDestroy")
}

napi_value dist_info(napi_env env, napi_callback_info info) {
  LT_ARGS(1);
  try {
    GroupBox& box = box_of(env, argv[0]);
    napi_value o;
    napi_create_object(env, &o);
    set_prop(env, o, "backend", make_string(env, box.backend));
    set_prop(env, o, "rank", make_int(env, box.rank));
    set_prop(env, o, "worldSize", make_int(env, box.size));
    set_prop(env, o, "timeoutMs", make_int(env, box.timeout.count()));
    set_prop(env, o, "endpoint", make_string(env, box.endpoint));
    set_prop(env, o, "destroyed", make_bool(env, !box.pg));
    return o;
  DIST_CATCH("distInfo")
}

#endif  // LT_WITH_C10D

// distBackends() -> {c10d, gloo, nccl, ncclUnavailableReason}: what this build of the addon can do.
napi_value dist_backends(napi_env env, napi_callback_info) {
  napi_value o;
  napi_create_object(env, &o);
#ifdef LT_WITH_C10D
  set_prop(env, o, "c10d", make_bool(env, true));
  set_prop(env, o, "gloo", make_bool(env, gloo_unavailable_reason() == nullptr));
  const char* reason = nccl_unavailable_reason();
  set_prop(env, o, "nccl", make_bool(env, reason == nullptr));
  set_prop(env, o, "ncclUnavailableReason", reason ? make_string(env, reason) : make_null(env));
#else
  set_prop(env, o, "c10d", make_bool(env, false));
  set_prop(env, o, "gloo", make_bool(env, false));
  set_prop(env, o, "nccl", make_bool(env, false));
  set_prop(env, o, "ncclUnavailableReason", make_string(env, "this libtorch was built without torch.distributed"));
#endif
  return o;
}

#ifndef LT_WITH_C10D
napi_value dist_unavailable(napi_env env, napi_callback_info) {
  throw_js_error(env, "DistributedError", "this libtorch was built without torch.distributed (USE_DISTRIBUTED); data-parallel training is unavailable");
  return nullptr;
}
#endif

}  // namespace

void register_distributed(napi_env env, napi_value exports) {
#ifdef LT_WITH_C10D
  napi_add_env_cleanup_hook(env, cleanup_env, env);
  register_exports(env, exports,
                   {{"distBackends", dist_backends},
                    {"distInit", dist_init},
                    {"distAllReduce", dist_all_reduce},
                    {"distBroadcast", dist_broadcast},
                    {"distAllGather", dist_all_gather},
                    {"distBarrier", dist_barrier},
                    {"distDestroy", dist_destroy},
                    {"distInfo", dist_info}});
#else
  register_exports(env, exports,
                   {{"distBackends", dist_backends},
                    {"distInit", dist_unavailable},
                    {"distAllReduce", dist_unavailable},
                    {"distBroadcast", dist_unavailable},
                    {"distAllGather", dist_unavailable},
                    {"distBarrier", dist_unavailable},
                    {"distDestroy", dist_unavailable},
                    {"distInfo", dist_unavailable}});
#endif
}

}  // namespace lt
