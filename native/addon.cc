// Module entry: registers each concern's functions on the addon's exports.
#include "common.h"

namespace lt {
void register_tensor_api(napi_env env, napi_value exports);
void register_dispatch(napi_env env, napi_value exports);
void register_fast_ops(napi_env env, napi_value exports);
void register_autograd(napi_env env, napi_value exports);
void register_runtime(napi_env env, napi_value exports);
void register_optim(napi_env env, napi_value exports);
void register_autocast(napi_env env, napi_value exports);
void register_latent_step(napi_env env, napi_value exports);
void register_distributed(napi_env env, napi_value exports);
void register_io(napi_env env, napi_value exports);
void register_mapped_file(napi_env env, napi_value exports);
void register_guards(napi_env env, napi_value exports);
void register_cpu_allocator(napi_env env, napi_value exports);
}  // namespace lt

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  lt::register_exports(env, exports, {{"setErrorFactory", lt::set_error_factory}});
  lt::register_tensor_api(env, exports);
  lt::register_dispatch(env, exports);
  lt::register_fast_ops(env, exports);
  lt::register_autograd(env, exports);
  lt::register_runtime(env, exports);
  lt::register_optim(env, exports);
  lt::register_autocast(env, exports);
  lt::register_latent_step(env, exports);
  lt::register_distributed(env, exports);
  lt::register_io(env, exports);
  lt::register_mapped_file(env, exports);
  lt::register_guards(env, exports);
  lt::register_cpu_allocator(env, exports);
  return exports;
}
