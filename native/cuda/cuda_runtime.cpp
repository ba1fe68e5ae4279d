// The CUDA side of torch.cuda.*: why CUDA is unusable, the caching allocator's counters, emptyCache.
// Compiled only when the addon is built against a CUDA libtorch with nvcc present (CMakeLists.txt
// adds this file and defines LT_WITH_CUDA); native/runtime.cc declares these functions and holds
// the stubs of CPU builds.
#include "../common.h"

#include <ATen/Context.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime.h>

#include <cstdlib>
#include <string>

namespace lt {

// Empty when at least one device is usable. The CUDA runtime's own message is the useful part
// ("CUDA driver version is insufficient for CUDA runtime version", "no CUDA-capable device is
// detected", ...); errors.cc maps those messages to CudaUnavailableError.
std::string cuda_unavailable_reason() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls report their own
    return std::string("CUDA is not usable on this machine: ") + cudaGetErrorString(status) +
           " (this addon was built with CUDA runtime " + std::to_string(CUDART_VERSION / 1000) + "." +
           std::to_string(CUDART_VERSION % 1000 / 10) + ")";
  }
  if (count == 0) {
    const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
    return std::string("no CUDA device is visible") +
           (visible ? std::string(" (CUDA_VISIBLE_DEVICES=\"") + visible + "\")" : std::string());
  }
  return {};
}

namespace {
int checked_device(int64_t device) {
  const std::string reason = cuda_unavailable_reason();
  TORCH_CHECK(reason.empty(), reason);
  int count = 0;
  cudaGetDeviceCount(&count);
  TORCH_CHECK_INDEX(device >= 0 && device < count, "CUDA device ", device, " does not exist (", count,
                    " visible)");
  // The caching allocator is created when libtorch first touches CUDA.
  at::globalContext().lazyInitDevice(c10::DeviceType::CUDA);
  return static_cast<int>(device);
}
}  // namespace

napi_value cuda_memory_stats(napi_env env, int64_t device) {
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(checked_device(device)));
  constexpr size_t kAggregate = 0;  // StatType::AGGREGATE: all pools together
  napi_value o;
  napi_create_object(env, &o);
  auto set = [&](const char* key, int64_t value) { napi_set_named_property(env, o, key, make_int(env, value)); };
  set("allocatedBytes", stats.allocated_bytes[kAggregate].current);
  set("allocatedBytesPeak", stats.allocated_bytes[kAggregate].peak);
  set("reservedBytes", stats.reserved_bytes[kAggregate].current);
  set("reservedBytesPeak", stats.reserved_bytes[kAggregate].peak);
  set("activeBytes", stats.active_bytes[kAggregate].current);
  set("activeBytesPeak", stats.active_bytes[kAggregate].peak);
  set("requestedBytes", stats.requested_bytes[kAggregate].current);
  set("allocations", stats.allocation[kAggregate].current);
  set("segments", stats.segment[kAggregate].current);
  set("numAllocRetries", stats.num_alloc_retries);
  set("numOoms", stats.num_ooms);
  return o;
}

void cuda_empty_cache() {
  // Nothing is cached before CUDA is first used, and nothing can be without a usable device.
  if (!cuda_unavailable_reason().empty()) return;
  c10::cuda::CUDACachingAllocator::emptyCache();
}

}  // namespace lt
