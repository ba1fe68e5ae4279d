// Process-wide runtime controls: seeds, threads, version and build information, CUDA presence.
#include "common.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/version.h>

namespace lt {

// Provided by cuda_runtime.cc when the addon is built with CUDA, else by the stubs below.
std::string cuda_unavailable_reason();
napi_value cuda_memory_stats(napi_env env, int64_t device);
void cuda_empty_cache();

namespace {

napi_value manual_seed(napi_env env, napi_callback_info info) {
  LT_ARGS(1);
  LT_TRY
  int64_t seed = arg_int(env, argv[0]);
  at::manual_seed(static_cast<uint64_t>(seed));
  return make_undefined(env);
  LT_CATCH_PLAIN("torch.manualSeed")
}

napi_value set_num_threads(napi_env env, napi_callback_info info) {
  LT_ARGS(1);
  LT_TRY
  int64_t n = arg_int(env, argv[0]);
  if (n < 1) throw ArgumentError("setNumThreads needs a positive count");
  at::set_num_threads(static_cast<int>(n));
  return make_undefined(env);
  LT_CATCH_PLAIN("torch.setNumThreads")
}

napi_value get_num_threads(napi_env env, napi_callback_info) { return make_int(env, at::get_num_threads()); }

napi_value version(napi_env env, napi_callback_info info) {
  LT_TRY
  napi_value o;
  napi_create_object(env, &o);
  napi_set_named_property(env, o, "libtorch", make_string(env, TORCH_VERSION));
  // The CUDA runtime version is only known to a libtorch with its CUDA library loaded.
  napi_value cuda_version = make_null(env);
  try {
    long v = at::detail::getCUDAHooks().versionCUDART();
    if (v > 0) cuda_version = make_string(env, std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10));
  } catch (const c10::Error&) {
  }
  napi_set_named_property(env, o, "cuda", cuda_version);
  napi_set_named_property(env, o, "mkl", make_bool(env, at::hasMKL()));
  napi_set_named_property(env, o, "mkldnn", make_bool(env, at::hasMKLDNN()));
  napi_set_named_property(env, o, "openmp", make_bool(env, at::hasOpenMP()));
  napi_set_named_property(env, o, "lapack", make_bool(env, at::hasLAPACK()));
  napi_set_named_property(env, o, "parallel", make_string(env, at::get_parallel_info()));
  napi_set_named_property(env, o, "config", make_string(env, at::show_config()));
  napi_set_named_property(env, o, "addonCuda", make_bool(env,
#ifdef LT_WITH_CUDA
                                                          true
#else
                                                          false
#endif
                                                          ));
  return o;
  LT_CATCH_PLAIN("torch.version")
}

napi_value cuda_is_available(napi_env env, napi_callback_info) {
  bool ok = false;
  try {
    ok = at::hasCUDA() && at::detail::getCUDAHooks().getNumGPUs() > 0;
  } catch (...) {
    ok = false;
  }
  return make_bool(env, ok);
}

napi_value cuda_device_count(napi_env env, napi_callback_info) {
  int n = 0;
  try {
    n = at::hasCUDA() ? at::detail::getCUDAHooks().getNumGPUs() : 0;
  } catch (...) {
  }
  return make_int(env, n);
}

napi_value cuda_unavailable(napi_env env, napi_callback_info) {
  LT_TRY
  std::string reason = cuda_unavailable_reason();
  return reason.empty() ? make_null(env) : make_string(env, reason);
  LT_CATCH_PLAIN("torch.cuda.unavailableReason")
}

napi_value cuda_synchronize(napi_env env, napi_callback_info info) {
  LT_ARGS(1);
  LT_TRY
  int64_t device = is_nullish(env, argv[0]) ? -1 : arg_int(env, argv[0]);
  std::string reason = cuda_unavailable_reason();
  if (!reason.empty()) throw_js_error(env, "CudaUnavailableError", reason);
  else {
    if (device < 0) device = at::detail::getCUDAHooks().current_device();
    at::detail::getCUDAHooks().deviceSynchronize(static_cast<c10::DeviceIndex>(device));
  }
  return make_undefined(env);
  LT_CATCH_PLAIN("torch.cuda.synchronize")
}

napi_value cuda_memory(napi_env env, napi_callback_info info) {
  LT_ARGS(1);
  LT_TRY
  int64_t device = is_nullish(env, argv[0]) ? 0 : arg_int(env, argv[0]);
  return cuda_memory_stats(env, device);
  LT_CATCH_PLAIN("torch.cuda.memoryStats")
}

napi_value cuda_empty(napi_env env, napi_callback_info) {
  LT_TRY
  cuda_empty_cache();
  return make_undefined(env);
  LT_CATCH_PLAIN("torch.cuda.emptyCache")
}

}  // namespace

#ifndef LT_WITH_CUDA
std::string cuda_unavailable_reason() {
  return "this build of latent-tokens uses a libtorch without CUDA (" TORCH_VERSION
         "); set LATENT_TORCH=cuda or LIBTORCH to a CUDA libtorch and reinstall";
}
napi_value cuda_memory_stats(napi_env env, int64_t) {
  throw_js_error(env, "CudaUnavailableError", cuda_unavailable_reason());
  return nullptr;
}
void cuda_empty_cache() {}
#endif

void register_runtime(napi_env env, napi_value exports) {
  register_exports(env, exports,
                   {{"manualSeed", manual_seed},
                    {"setNumThreads", set_num_threads},
                    {"getNumThreads", get_num_threads},
                    {"version", version},
                    {"cudaIsAvailable", cuda_is_available},
                    {"cudaDeviceCount", cuda_device_count},
                    {"cudaUnavailableReason", cuda_unavailable},
                    {"cudaSynchronize", cuda_synchronize},
                    {"cudaMemoryStats", cuda_memory},
                    {"cudaEmptyCache", cuda_empty}});
}

}  // namespace lt
