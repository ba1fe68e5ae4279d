// Automatic mixed precision regions (at::autocast), entered and left the way torch.autocast's
// __enter__/__exit__ do: per-device enabled flag and dtype, a nesting count, and the cast cache
// (cleared when the outermost region ends). The state is thread-local in libtorch; all tensor work
// happens on the JS thread.
#include "common.h"

#include <ATen/autocast_mode.h>

namespace lt {
namespace {

c10::DeviceType arg_autocast_device(napi_env env, napi_value v) {
  std::string s = arg_string(env, v);
  if (s == "cpu") return c10::DeviceType::CPU;
  if (s == "cuda") return c10::DeviceType::CUDA;
  throw ArgumentError("autocast: unknown deviceType '" + s + "' (expected 'cpu' or 'cuda')");
}

napi_value state_object(napi_env env, c10::DeviceType device) {
  napi_value o;
  napi_create_object(env, &o);
  napi_set_named_property(env, o, "enabled", make_bool(env, at::autocast::is_autocast_enabled(device)));
  napi_set_named_property(env, o, "dtype", make_string(env, dtype_name(at::autocast::get_autocast_dtype(device))));
  napi_set_named_property(env, o, "cacheEnabled", make_bool(env, at::autocast::is_autocast_cache_enabled()));
  return o;
}

// autocastState(deviceType) -> {enabled, dtype, cacheEnabled}
napi_value autocast_state(napi_env env, napi_callback_info info) {
  LT_ARGS(1);
  LT_TRY
  return state_object(env, arg_autocast_device(env, argv[0]));
  LT_CATCH_PLAIN("torch.autocast")
}

// autocastEnter(deviceType, dtype, enabled, cacheEnabled) -> the state before entering, for autocastExit.
napi_value autocast_enter(napi_env env, napi_callback_info info) {
  LT_ARGS(4);
  LT_TRY
  c10::DeviceType device = arg_autocast_device(env, argv[0]);
  c10::ScalarType dtype = arg_dtype(env, argv[1]);
  TORCH_CHECK_VALUE(dtype == at::kBFloat16 || dtype == at::kHalf, "autocast: dtype must be 'bfloat16' or 'float16', got '",
                    dtype_name(dtype), "'");
  bool enabled = arg_bool(env, argv[2]);
  bool cache_enabled = arg_bool(env, argv[3]);
  napi_value previous = state_object(env, device);
  at::autocast::set_autocast_enabled(device, enabled);
  at::autocast::set_autocast_dtype(device, dtype);
  at::autocast::increment_nesting();
  at::autocast::set_autocast_cache_enabled(cache_enabled);
  return previous;
  LT_CATCH_PLAIN("torch.autocast")
}

// autocastExit(deviceType, previous: {enabled, dtype, cacheEnabled})
napi_value autocast_exit(napi_env env, napi_callback_info info) {
  LT_ARGS(2);
  LT_TRY
  c10::DeviceType device = arg_autocast_device(env, argv[0]);
  auto field = [&](const char* name) {
    napi_value v;
    napi_get_named_property(env, argv[1], name, &v);
    return v;
  };
  bool enabled = arg_bool(env, field("enabled"));
  c10::ScalarType dtype = arg_dtype(env, field("dtype"));
  bool cache_enabled = arg_bool(env, field("cacheEnabled"));
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(device, enabled);
  at::autocast::set_autocast_dtype(device, dtype);
  at::autocast::set_autocast_cache_enabled(cache_enabled);
  return make_undefined(env);
  LT_CATCH_PLAIN("torch.autocast")
}

}  // namespace

void register_autocast(napi_env env, napi_value exports) {
  register_exports(env, exports,
                   {{"autocastState", autocast_state}, {"autocastEnter", autocast_enter}, {"autocastExit", autocast_exit}});
}

}  // namespace lt
