// Tensor creation from JavaScript memory, readback, metadata and handle lifetime.
#include "common.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>

namespace lt {
namespace {

struct TypedArrayView {
  napi_typedarray_type type;
  void* data;
  size_t length;  // elements
  size_t bytes;
};

size_t element_size(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: case napi_uint8_array: case napi_uint8_clamped_array: return 1;
    case napi_int16_array: case napi_uint16_array: return 2;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: return 4;
    case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: return 8;
    default: return 1;
  }
}

TypedArrayView typed_array(napi_env env, napi_value v) {
  bool is_ta = false;
  napi_is_typedarray(env, v, &is_ta);
  if (!is_ta) throw ArgumentError("expected a TypedArray (Float32Array, Int32Array, Uint8Array, ...)");
  TypedArrayView view{};
  napi_value buffer;
  size_t offset;
  napi_get_typedarray_info(env, v, &view.type, &view.length, &view.data, &buffer, &offset);
  bool detached = false;
  napi_is_detached_arraybuffer(env, buffer, &detached);
  if (detached) throw ArgumentError("the TypedArray's ArrayBuffer is detached (transferred or freed)");
  view.bytes = view.length * element_size(view.type);
  return view;
}

int64_t numel_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw ArgumentError("negative dimension in shape");
    if (d != 0 && n > (int64_t(1) << 62) / d) throw ArgumentError("shape too large");
    n *= d;
  }
  return n;
}

// fromBytes(typedArray, dtype, shape): a new CPU tensor holding a copy of the bytes.
// Always copies: the tensor must not depend on a JS buffer that the GC may move or free.
napi_value from_bytes(napi_env env, napi_callback_info info) {
  LT_ARGS(3);
  LT_TRY
  // The shape's elements may be getters that run JavaScript (which can detach the buffer): read the
  // typed array only after every other argument was converted.
  c10::ScalarType dtype = arg_dtype(env, argv[1]);
  std::vector<int64_t> shape = arg_int_list(env, argv[2]);
  TypedArrayView view = typed_array(env, argv[0]);
  int64_t n = numel_of(shape);
  size_t need = static_cast<size_t>(n) * c10::elementSize(dtype);
  if (view.bytes != need) {
    throw c10::ValueError({__func__, __FILE__, static_cast<uint32_t>(__LINE__)},
                          "data holds " + std::to_string(view.bytes) + " bytes but shape " + c10::str(c10::IntArrayRef(shape)) +
                              " of " + dtype_name(dtype) + " needs " + std::to_string(need));
  }
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
  if (need) std::memcpy(t.data_ptr(), view.data, need);
  return make_tensor(env, std::move(t));
  LT_CATCH_PLAIN("torch.tensor")
}

// The longest typed array this Node.js makes (buffer.constants.MAX_LENGTH; set from JavaScript at load).
uint64_t g_max_typed_array_length = uint64_t(1) << 32;

// setMaxTypedArrayLength(n)
napi_value set_max_typed_array_length(napi_env env, napi_callback_info info) {
  LT_ARGS(1);
  LT_TRY
  double n = arg_double(env, argv[0]);
  if (!(n >= 0)) throw ArgumentError("setMaxTypedArrayLength expects a non-negative number");
  g_max_typed_array_length = static_cast<uint64_t>(n);
  return make_undefined(env);
  LT_CATCH_PLAIN("setMaxTypedArrayLength")
}

// toBytes(h, out?): copies the tensor's elements (row-major, on the CPU) into a new ArrayBuffer-backed
// typed array of the natural JS type; 16-bit floats come back as Uint16Array of raw bits.
napi_value to_typed_array(napi_env env, napi_callback_info info) {
  LT_ARGS(1);
  LT_TRY
  at::Tensor t = arg_tensor(env, argv[0]);
  if (!t.is_cpu()) t = t.cpu();
  t = t.contiguous();
  if (t.is_conj()) t = t.resolve_conj();
  napi_typedarray_type type;
  switch (t.scalar_type()) {
    case at::kFloat: type = napi_float32_array; break;
    case at::kDouble: type = napi_float64_array; break;
    case at::kInt: type = napi_int32_array; break;
    case at::kLong: type = napi_bigint64_array; break;
    case at::kShort: type = napi_int16_array; break;
    case at::kChar: type = napi_int8_array; break;
    case at::kByte: case at::kBool: type = napi_uint8_array; break;
    case at::kHalf: case at::kBFloat16: type = napi_uint16_array; break;
    default:
      throw c10::TypeError({__func__, __FILE__, static_cast<uint32_t>(__LINE__)},
                           std::string("cannot read tensors of dtype ") + dtype_name(t.scalar_type()) + " into JavaScript");
  }
  // V8 aborts the process (rather than throwing) when an ArrayBuffer cannot be allocated or a typed
  // array is longer than its limit: check both here and throw OutOfMemoryError instead.
  TORCH_CHECK_WITH(OutOfMemoryError, static_cast<uint64_t>(t.numel()) <= g_max_typed_array_length, "the tensor has ", t.numel(),
                   " elements but a JavaScript typed array holds at most ", g_max_typed_array_length);
  size_t bytes = t.nbytes();
  void* data = std::malloc(bytes ? bytes : 1);
  TORCH_CHECK_WITH(OutOfMemoryError, data != nullptr, "could not allocate ", bytes, " bytes for the tensor's data in JavaScript");
  if (bytes) std::memcpy(data, t.data_ptr(), bytes);
  napi_value buffer, result;
  if (napi_create_external_arraybuffer(env, data, bytes, [](napi_env, void* p, void*) { std::free(p); }, nullptr, &buffer) != napi_ok) {
    std::free(data);
    TORCH_CHECK_WITH(OutOfMemoryError, false, "could not create an ArrayBuffer of ", bytes, " bytes");
  }
  if (napi_create_typedarray(env, type, static_cast<size_t>(t.numel()), buffer, 0, &result) != napi_ok)
    TORCH_CHECK_WITH(OutOfMemoryError, false, "could not create a typed array of ", t.numel(), " elements");
  return result;
  LT_CATCH("Tensor.data", argv, argc, 1)
}

// copyFromBytes(h, typedArray): overwrite a contiguous CPU tensor with raw bytes (checkpoint loading).
napi_value copy_from_bytes(napi_env env, napi_callback_info info) {
  LT_ARGS(2);
  LT_TRY
  at::Tensor t = arg_tensor(env, argv[0]);
  TypedArrayView view = typed_array(env, argv[1]);
  if (!t.is_cpu() || !t.is_contiguous()) throw ArgumentError("copyFromBytes needs a contiguous CPU tensor");
  if (view.bytes != t.nbytes())
    throw c10::ValueError({__func__, __FILE__, static_cast<uint32_t>(__LINE__)},
                          "byte count " + std::to_string(view.bytes) + " does not match the tensor's " + std::to_string(t.nbytes()));
  if (view.bytes) std::memcpy(t.data_ptr(), view.data, view.bytes);
  return make_undefined(env);
  LT_CATCH("copyFromBytes", argv, argc, 1)
}

napi_value int_array(napi_env env, c10::IntArrayRef values) {
  napi_value arr;
  napi_create_array_with_length(env, values.size(), &arr);
  for (size_t i = 0; i < values.size(); ++i) napi_set_element(env, arr, static_cast<uint32_t>(i), make_double(env, static_cast<double>(values[i])));
  return arr;
}

LT_TENSOR_GETTER(shape, "Tensor.shape", 0, int_array(env, self.sizes()))
LT_TENSOR_GETTER(strides, "Tensor.stride", 0, int_array(env, self.strides()))
LT_TENSOR_GETTER(dtype, "Tensor.dtype", 0, make_string(env, dtype_name(self.scalar_type())))
LT_TENSOR_GETTER(device, "Tensor.device", 0, make_string(env, self.device().str()))
LT_TENSOR_GETTER(numel, "Tensor.numel", 0, make_double(env, static_cast<double>(self.numel())))
LT_TENSOR_GETTER(dim, "Tensor.dim", 0, make_int(env, self.dim()))
LT_TENSOR_GETTER(is_contiguous, "Tensor.isContiguous", 0, make_bool(env, self.is_contiguous()))
LT_TENSOR_GETTER(item, "Tensor.item", 1, scalar_to_js(env, self.item()))
// alias(h): a second handle to the same tensor (same storage and autograd identity).
LT_TENSOR_GETTER(alias, "alias", 0, make_tensor(env, std::move(self)))

// release(h) -> whether the handle was live. Idempotent.
napi_value release(napi_env env, napi_callback_info info) {
  LT_ARGS(1);
  LT_TRY
  Handle h;
  try {
    h = arg_handle(env, argv[0]);
  } catch (const HandleError&) {
    return make_bool(env, false);
  }
  return make_bool(env, table_release(env, h));
  LT_CATCH_PLAIN("dispose")
}

// accountExternal(h): the tensor is left to its finalizer; its memory now counts in V8's GC heuristics.
napi_value account_external(napi_env env, napi_callback_info info) {
  LT_ARGS(1);
  LT_TRY
  table_account_external(env, arg_handle(env, argv[0]));
  return make_undefined(env);
  LT_CATCH_PLAIN("accountExternal")
}

// releaseMany(handles, count?): the scope exit path, one crossing for many tensors. A Float64Array
// (what scopes pass) is read in place — reading an array element through N-API costs more than
// releasing a small tensor; a plain array is read element by element.
bool release_number(napi_env env, double h) {
  return h == std::floor(h) && std::fabs(h) <= 9007199254740991.0 && table_release(env, static_cast<Handle>(h));
}

napi_value release_many(napi_env env, napi_callback_info info) {
  LT_ARGS(2);
  LT_TRY
  bool is_typed = false;
  napi_is_typedarray(env, argv[0], &is_typed);
  if (is_typed) {
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    napi_value buffer;
    size_t offset;
    napi_get_typedarray_info(env, argv[0], &type, &length, &data, &buffer, &offset);
    if (type != napi_float64_array) throw ArgumentError("releaseMany expects a Float64Array of handles");
    // The count is read before the data: nothing below runs JavaScript, so `data` stays valid
    // (a detached buffer has length 0).
    size_t count = length;
    if (!is_nullish(env, argv[1])) count = std::min(length, static_cast<size_t>(std::max<int64_t>(0, arg_int(env, argv[1]))));
    napi_get_typedarray_info(env, argv[0], &type, &length, &data, &buffer, &offset);
    count = std::min(count, length);
    const double* hs = static_cast<const double*>(data);
    for (size_t i = 0; i < count; ++i) release_number(env, hs[i]);
    return make_undefined(env);
  }
  uint32_t n = 0;
  napi_get_array_length(env, argv[0], &n);
  for (uint32_t i = 0; i < n; ++i) {
    napi_value e;
    napi_get_element(env, argv[0], i, &e);
    double h;
    if (napi_get_value_double(env, e, &h) == napi_ok) release_number(env, h);
  }
  return make_undefined(env);
  LT_CATCH_PLAIN("scope exit")
}

// memory() -> { liveTensors, devices: { "cpu": { tensors, bytes }, ... } }; bytes count each storage once.
napi_value memory(napi_env env, napi_callback_info info) {
  LT_TRY
  struct Usage {
    int64_t tensors = 0;
    int64_t bytes = 0;
  };
  std::map<std::string, Usage> usage;
  std::map<const void*, bool> seen;
  for (const auto& [h, t] : table_snapshot()) {
    Usage& u = usage[t->device().str()];
    ++u.tensors;
    if (t->has_storage()) {
      const void* key = t->storage().unsafeGetStorageImpl();
      if (!seen[key]) {
        seen[key] = true;
        u.bytes += static_cast<int64_t>(t->storage().nbytes());
      }
    }
  }
  napi_value result, devices;
  napi_create_object(env, &result);
  napi_create_object(env, &devices);
  napi_set_named_property(env, result, "liveTensors", make_double(env, static_cast<double>(table_live_count())));
  for (const auto& [name, u] : usage) {
    napi_value d;
    napi_create_object(env, &d);
    napi_set_named_property(env, d, "tensors", make_double(env, static_cast<double>(u.tensors)));
    napi_set_named_property(env, d, "bytes", make_double(env, static_cast<double>(u.bytes)));
    napi_set_named_property(env, devices, name.c_str(), d);
  }
  napi_set_named_property(env, result, "devices", devices);
  return result;
  LT_CATCH_PLAIN("torch.memory")
}

napi_value live_count(napi_env env, napi_callback_info info) {
  return make_double(env, static_cast<double>(table_live_count()));
}

// setDebug(on): record creation sites of live tensors (set from JS with setCreationSite).
napi_value set_debug(napi_env env, napi_callback_info info) {
  LT_ARGS(1);
  LT_TRY table_set_debug(arg_bool(env, argv[0]));
  return make_undefined(env);
  LT_CATCH_PLAIN("setDebug")
}

napi_value set_creation_site(napi_env env, napi_callback_info info) {
  LT_ARGS(2);
  LT_TRY table_set_creation_site(static_cast<Handle>(arg_int(env, argv[0])), arg_string(env, argv[1]));
  return make_undefined(env);
  LT_CATCH_PLAIN("setCreationSite")
}

// liveTensors() -> [{ handle, description, site }] for leak hunting.
napi_value live_tensors(napi_env env, napi_callback_info info) {
  LT_TRY
  auto snapshot = table_snapshot();
  napi_value arr;
  napi_create_array_with_length(env, snapshot.size(), &arr);
  uint32_t i = 0;
  for (const auto& [h, t] : snapshot) {
    napi_value o;
    napi_create_object(env, &o);
    napi_set_named_property(env, o, "handle", make_int(env, h));
    napi_set_named_property(env, o, "description", make_string(env, describe_tensor(*t)));
    napi_set_named_property(env, o, "site", make_string(env, table_creation_site(h)));
    napi_set_element(env, arr, i++, o);
  }
  return arr;
  LT_CATCH_PLAIN("liveTensors")
}

}  // namespace

void register_tensor_api(napi_env env, napi_value exports) {
  register_exports(env, exports,
                   {{"fromBytes", from_bytes},
                    {"toTypedArray", to_typed_array},
                    {"setMaxTypedArrayLength", set_max_typed_array_length},
                    {"copyFromBytes", copy_from_bytes},
                    {"shape", shape},
                    {"strides", strides},
                    {"dtype", dtype},
                    {"device", device},
                    {"numel", numel},
                    {"dim", dim},
                    {"isContiguous", is_contiguous},
                    {"item", item},
                    {"alias", alias},
                    {"release", release},
                    {"releaseMany", release_many},
                    {"accountExternal", account_external},
                    {"memory", memory},
                    {"liveCount", live_count},
                    {"setDebug", set_debug},
                    {"setCreationSite", set_creation_site},
                    {"liveTensors", live_tensors}});
}

}  // namespace lt
