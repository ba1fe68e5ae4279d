// Conversions between JavaScript values and ATen argument types.
#include "common.h"

#include <c10/core/Device.h>
#include <c10/core/Layout.h>
#include <c10/core/MemoryFormat.h>

#include <cmath>
#include <sstream>

namespace lt {

namespace {
void check(napi_env env, napi_status s, const char* what) {
  if (s == napi_ok) return;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {  // e.g. a getter threw: clear it and report as an argument error
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
  }
  throw ArgumentError(std::string("expected ") + what);
}

const char* type_name(napi_valuetype t) {
  switch (t) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "boolean";
    case napi_number: return "number";
    case napi_string: return "string";
    case napi_symbol: return "symbol";
    case napi_object: return "object";
    case napi_function: return "function";
    case napi_external: return "external";
    case napi_bigint: return "bigint";
  }
  return "value";
}

[[noreturn]] void wrong(napi_env env, napi_value v, const char* expected) {
  throw ArgumentError(std::string("expected ") + expected + ", got " + type_name(type_of(env, v)));
}

uint32_t array_length(napi_env env, napi_value v, const char* expected) {
  bool is_array = false;
  napi_is_array(env, v, &is_array);
  if (!is_array) wrong(env, v, expected);
  uint32_t n = 0;
  napi_get_array_length(env, v, &n);
  return n;
}

napi_value element(napi_env env, napi_value arr, uint32_t i) {
  napi_value e;
  check(env, napi_get_element(env, arr, i, &e), "an array element");
  return e;
}
}  // namespace

napi_value make_int(napi_env env, int64_t v) {
  napi_value r;
  napi_create_int64(env, v, &r);
  return r;
}
napi_value make_double(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}
napi_value make_bool(napi_env env, bool v) {
  napi_value r;
  napi_get_boolean(env, v, &r);
  return r;
}
napi_value make_string(napi_env env, const std::string& s) {
  napi_value r;
  napi_create_string_utf8(env, s.data(), s.size(), &r);
  return r;
}
napi_value make_undefined(napi_env env) {
  napi_value r;
  napi_get_undefined(env, &r);
  return r;
}
napi_value make_null(napi_env env) {
  napi_value r;
  napi_get_null(env, &r);
  return r;
}
napi_value make_tensor(napi_env env, at::Tensor t) {
  if (!t.defined()) return make_null(env);
  napi_value r;
  napi_create_int64(env, table_insert(env, std::move(t)), &r);
  return r;
}

napi_valuetype type_of(napi_env env, napi_value v) {
  napi_valuetype t = napi_undefined;
  napi_typeof(env, v, &t);
  return t;
}

bool is_nullish(napi_env env, napi_value v) {
  napi_valuetype t = type_of(env, v);
  return t == napi_undefined || t == napi_null;
}

Handle arg_handle(napi_env env, napi_value v) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) wrong(env, v, "a Tensor");
  // Not an integer (NaN, 0.5, ...): no handle. The table refuses negatives and values past its range.
  if (!(d == std::floor(d)) || std::fabs(d) > 9007199254740991.0) throw HandleError("not a tensor handle");
  return static_cast<Handle>(d);
}

at::Tensor arg_tensor(napi_env env, napi_value v) { return table_get(env, arg_handle(env, v)); }
const at::Tensor& arg_tensor_ref(napi_env env, napi_value v) { return table_get(env, arg_handle(env, v)); }

std::optional<at::Tensor> arg_optional_tensor(napi_env env, napi_value v) {
  if (is_nullish(env, v)) return std::nullopt;
  return arg_tensor(env, v);
}

std::vector<at::Tensor> arg_tensor_list(napi_env env, napi_value v) {
  uint32_t n = array_length(env, v, "an array of Tensors");
  std::vector<at::Tensor> out;
  out.reserve(n);
  for (uint32_t i = 0; i < n; ++i) out.push_back(arg_tensor(env, element(env, v, i)));
  return out;
}

c10::List<std::optional<at::Tensor>> arg_optional_tensor_list(napi_env env, napi_value v) {
  uint32_t n = array_length(env, v, "an array of Tensors (or nulls)");
  c10::List<std::optional<at::Tensor>> out;
  out.reserve(n);
  for (uint32_t i = 0; i < n; ++i) out.push_back(arg_optional_tensor(env, element(env, v, i)));
  return out;
}

// Numbers are tried first (the common case: one N-API call instead of a napi_typeof before it); a
// value that is not a number fails that call without side effects.
int64_t arg_int(napi_env env, napi_value v) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) {
    napi_valuetype t = type_of(env, v);
    if (t == napi_boolean) return arg_bool(env, v) ? 1 : 0;
    if (t == napi_bigint) {
      int64_t r;
      bool lossless;
      napi_get_value_bigint_int64(env, v, &r, &lossless);
      if (!lossless) throw ArgumentError("integer out of the int64 range");
      return r;
    }
    wrong(env, v, "an integer");
  }
  if (!std::isfinite(d) || std::floor(d) != d) {
    std::ostringstream msg;
    msg << "expected an integer, got " << d;
    throw ArgumentError(msg.str());
  }
  if (std::fabs(d) > 9007199254740991.0) throw ArgumentError("integer beyond 2^53 cannot be passed as a JS number; use a BigInt");
  return static_cast<int64_t>(d);
}

double arg_double(napi_env env, napi_value v) {
  double d;
  if (napi_get_value_double(env, v, &d) == napi_ok) return d;
  if (type_of(env, v) == napi_boolean) return arg_bool(env, v) ? 1.0 : 0.0;
  wrong(env, v, "a number");
}

bool arg_bool(napi_env env, napi_value v) {
  bool b;
  if (napi_get_value_bool(env, v, &b) != napi_ok) wrong(env, v, "a boolean");
  return b;
}

std::string arg_string(napi_env env, napi_value v) {
  size_t n;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &n) != napi_ok) wrong(env, v, "a string");
  std::string s(n, '\0');
  napi_get_value_string_utf8(env, v, s.data(), n + 1, &n);
  return s;
}

at::Scalar arg_scalar(napi_env env, napi_value v) {
  double d;
  if (napi_get_value_double(env, v, &d) == napi_ok) {
    // Integral JS numbers are integer scalars, as Python's int literals are: intTensor.add(2) stays integral.
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) <= 9007199254740991.0) return at::Scalar(static_cast<int64_t>(d));
    return at::Scalar(d);
  }
  switch (type_of(env, v)) {
    case napi_boolean: return at::Scalar(arg_bool(env, v));
    case napi_bigint: return at::Scalar(arg_int(env, v));
    default: wrong(env, v, "a number or boolean (Scalar)");
  }
}

napi_value scalar_to_js(napi_env env, const at::Scalar& s) {
  if (s.isBoolean()) return make_bool(env, s.toBool());
  if (s.isIntegral(false)) return make_double(env, static_cast<double>(s.toLong()));
  if (s.isComplex()) throw ArgumentError("complex scalars are not supported in JavaScript");
  return make_double(env, s.toDouble());
}

namespace {
// A list of numbers, each read with `arg`; a lone number is a one-element list.
template <typename T, T (*arg)(napi_env, napi_value)>
std::vector<T> arg_number_list(napi_env env, napi_value v, const char* expected) {
  if (type_of(env, v) == napi_number) return {arg(env, v)};
  uint32_t n = array_length(env, v, expected);
  std::vector<T> out(n);
  for (uint32_t i = 0; i < n; ++i) out[i] = arg(env, element(env, v, i));
  return out;
}
}  // namespace

std::vector<int64_t> arg_int_list(napi_env env, napi_value v) {
  return arg_number_list<int64_t, arg_int>(env, v, "an integer or an array of integers");
}

std::vector<double> arg_double_list(napi_env env, napi_value v) {
  return arg_number_list<double, arg_double>(env, v, "a number or an array of numbers");
}

namespace {
struct DtypeName {
  const char* name;
  c10::ScalarType type;
};
// Names as in PyTorch (torch.float32, ...), with the usual aliases.
const DtypeName kDtypes[] = {
    {"float32", at::kFloat},   {"float", at::kFloat},        {"float64", at::kDouble},  {"double", at::kDouble},
    {"bfloat16", at::kBFloat16}, {"float16", at::kHalf},     {"half", at::kHalf},       {"int32", at::kInt},
    {"int", at::kInt},         {"int64", at::kLong},         {"long", at::kLong},       {"int16", at::kShort},
    {"short", at::kShort},     {"int8", at::kChar},          {"uint8", at::kByte},      {"bool", at::kBool},
    {"complex64", at::kComplexFloat}, {"complex128", at::kComplexDouble},
};
}  // namespace

c10::ScalarType dtype_from_name(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return d.type;
  throw ArgumentError("unknown dtype '" + name +
                      "' (expected one of float32, float64, bfloat16, float16, int64, int32, int16, int8, uint8, bool)");
}

const char* dtype_name(c10::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kBFloat16: return "bfloat16";
    case at::kHalf: return "float16";
    case at::kInt: return "int32";
    case at::kLong: return "int64";
    case at::kShort: return "int16";
    case at::kChar: return "int8";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    case at::kComplexFloat: return "complex64";
    case at::kComplexDouble: return "complex128";
    default: return c10::toString(t);
  }
}

c10::ScalarType arg_dtype(napi_env env, napi_value v) {
  if (type_of(env, v) == napi_string) return dtype_from_name(arg_string(env, v));
  wrong(env, v, "a dtype name such as 'float32'");
}

c10::Device arg_device(napi_env env, napi_value v) {
  if (type_of(env, v) != napi_string) wrong(env, v, "a device such as 'cpu' or 'cuda:0'");
  std::string s = arg_string(env, v);
  try {
    return c10::Device(s);
  } catch (const c10::Error&) {
    throw ArgumentError("unknown device '" + s + "' (expected 'cpu', 'cuda' or 'cuda:N')");
  }
}

c10::Layout arg_layout(napi_env env, napi_value v) {
  std::string s = arg_string(env, v);
  if (s == "strided") return c10::kStrided;
  if (s == "sparse_coo" || s == "sparse") return c10::kSparse;
  throw ArgumentError("unknown layout '" + s + "' (expected 'strided' or 'sparse_coo')");
}

c10::MemoryFormat arg_memory_format(napi_env env, napi_value v) {
  std::string s = arg_string(env, v);
  if (s == "contiguous_format" || s == "contiguous") return c10::MemoryFormat::Contiguous;
  if (s == "preserve_format" || s == "preserve") return c10::MemoryFormat::Preserve;
  if (s == "channels_last") return c10::MemoryFormat::ChannelsLast;
  if (s == "channels_last_3d") return c10::MemoryFormat::ChannelsLast3d;
  throw ArgumentError("unknown memory format '" + s + "'");
}

std::string describe_tensor(const at::Tensor& t) {
  if (!t.defined()) return "None";
  std::ostringstream os;
  os << "Tensor[" << t.sizes() << ", " << dtype_name(t.scalar_type()) << ", " << t.device() << "]";
  return os.str();
}

void register_exports(napi_env env, napi_value exports, const std::vector<Export>& fns) {
  for (const auto& e : fns) {
    napi_value fn;
    napi_create_function(env, e.name, NAPI_AUTO_LENGTH, e.fn, nullptr, &fn);
    napi_set_named_property(env, exports, e.name, fn);
  }
}

}  // namespace lt
