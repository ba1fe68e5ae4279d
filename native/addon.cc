// Module entry: registers each concern's functions on the addon's exports.
#include "common.h"

// The concerns, each a source file with a register_<concern>(env, exports): named once here, for
// the declarations and for the registration order.
#define LT_CONCERNS(X)                                                              \
  X(tensor_api) X(dispatch) X(fast_ops) X(autograd) X(runtime) X(optim) X(autocast) \
  X(latent_step) X(distributed) X(io) X(mapped_file) X(guards) X(cpu_allocator) X(profiler)

namespace lt {
#define LT_DECLARE_REGISTER(concern) void register_##concern(napi_env env, napi_value exports);
LT_CONCERNS(LT_DECLARE_REGISTER)
}  // namespace lt

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  lt::register_exports(env, exports, {{"setErrorFactory", lt::set_error_factory}});
#define LT_CALL_REGISTER(concern) lt::register_##concern(env, exports);
  LT_CONCERNS(LT_CALL_REGISTER)
  return exports;
}
