// Shared declarations of the addon: the tensor handle table, argument conversion and error translation.
//
// Tensors cross into JavaScript as small integer handles into a process-wide table, not as wrapped
// objects: a handle is cheap to pass and return (the per-call cost of small operators is dominated by
// the JS <-> native crossing), and the table is what makes memory deterministic — a tensor lives until
// its handle is released, and the table can count and describe what is alive.
#pragma once

#include <node_api.h>

#include <ATen/core/List.h>
#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>
#include <c10/util/Exception.h>

#include <cstdint>
#include <string>
#include <vector>

namespace lt {

// ---- handle table (tensor_table.cc) ----
// A handle is a JS number below 2^53 (index and generation, see tensor_table.cc); -1 is "no tensor".
using Handle = int64_t;
constexpr Handle kNoTensor = -1;

Handle table_insert(napi_env env, at::Tensor t);       // takes ownership; undefined tensor -> kNoTensor
const at::Tensor& table_get(napi_env env, Handle h);   // throws HandleError for stale/disposed handles
bool table_release(napi_env env, Handle h);            // false if already released
void table_account_external(napi_env env, Handle h);  // reports its memory to V8: left to its finalizer
size_t table_live_count();
void table_set_debug(bool on);
bool table_debug();
void table_set_creation_site(Handle h, std::string site);
std::vector<std::pair<Handle, const at::Tensor*>> table_snapshot();
std::string table_creation_site(Handle h);

struct HandleError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A JS argument of the wrong kind (not a tensor handle, NaN for an int, ...): reported as TypeError.
struct ArgumentError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---- small N-API helpers (convert.cc) ----
napi_value make_int(napi_env env, int64_t v);
napi_value make_double(napi_env env, double v);
napi_value make_bool(napi_env env, bool v);
napi_value make_string(napi_env env, const std::string& s);
napi_value make_undefined(napi_env env);
napi_value make_null(napi_env env);
napi_value make_tensor(napi_env env, at::Tensor t);  // inserts into the table, returns the handle (or null)
// True for the storage of a tensor over a memory-mapped file (mapped_file.cc): page-cache memory, not the heap's.
bool is_file_mapped(const at::Storage& storage);

napi_valuetype type_of(napi_env env, napi_value v);
bool is_nullish(napi_env env, napi_value v);
// A named property of an options object; a read that fails (a throwing getter) is an ArgumentError.
inline napi_value get_prop(napi_env env, napi_value obj, const char* name) {
  napi_value v;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) throw ArgumentError(std::string("cannot read property '") + name + "'");
  return v;
}
// Whether an options object sets `name` (undefined and null count as unset).
inline bool has_prop(napi_env env, napi_value obj, const char* name) { return !is_nullish(env, get_prop(env, obj, name)); }
// By value: JavaScript that runs later in the same call (a getter on another argument) may grow the
// handle table or release this handle; a copy keeps the tensor valid until the call ends.
at::Tensor arg_tensor(napi_env env, napi_value v);
// Borrowed from the table: valid only until the table next changes (a tensor made or released,
// JavaScript run). For arguments resolved after every conversion that can run JavaScript.
const at::Tensor& arg_tensor_ref(napi_env env, napi_value v);
Handle arg_handle(napi_env env, napi_value v);  // a tensor handle as passed from JS (not resolved)
std::optional<at::Tensor> arg_optional_tensor(napi_env env, napi_value v);
std::vector<at::Tensor> arg_tensor_list(napi_env env, napi_value v);
c10::List<std::optional<at::Tensor>> arg_optional_tensor_list(napi_env env, napi_value v);
int64_t arg_int(napi_env env, napi_value v);
double arg_double(napi_env env, napi_value v);
bool arg_bool(napi_env env, napi_value v);
std::string arg_string(napi_env env, napi_value v);
at::Scalar arg_scalar(napi_env env, napi_value v);
std::vector<int64_t> arg_int_list(napi_env env, napi_value v);  // a number is a one-element list
std::vector<double> arg_double_list(napi_env env, napi_value v);
c10::ScalarType arg_dtype(napi_env env, napi_value v);
c10::Device arg_device(napi_env env, napi_value v);
c10::Layout arg_layout(napi_env env, napi_value v);
c10::MemoryFormat arg_memory_format(napi_env env, napi_value v);
napi_value scalar_to_js(napi_env env, const at::Scalar& s);

c10::ScalarType dtype_from_name(const std::string& name);
const char* dtype_name(c10::ScalarType t);
std::string describe_tensor(const at::Tensor& t);

// ---- errors (errors.cc) ----
// Translates the current C++ exception into a JS error of the TorchError hierarchy and throws it.
// `op` names the operator, `args` are the JS arguments (tensor handles are described by shape/dtype/device).
// `tensor_args` has bit i set when args[i] holds a tensor handle (or an array of them).
void throw_current_exception(napi_env env, const char* op, const napi_value* args, size_t argc, uint64_t tensor_args);
void throw_js_error(napi_env env, const char* kind, const std::string& message);
napi_value set_error_factory(napi_env env, napi_callback_info info);

// ---- registration ----
struct Export {
  const char* name;
  napi_callback fn;
};
void register_exports(napi_env env, napi_value exports, const std::vector<Export>& fns);

}  // namespace lt

// Wrap the body of every native entry point: no exception may cross into V8 (it would abort the process).
#define LT_TRY try {
#define LT_CATCH(op, argv, argc, tensor_args)                      \
  }                                                                \
  catch (...) {                                                    \
    ::lt::throw_current_exception(env, op, argv, argc, tensor_args); \
    return nullptr;                                                \
  }
#define LT_CATCH_PLAIN(op) LT_CATCH(op, nullptr, 0, 0)

// Fetch up to N arguments into `argv`, with `argc` set to the number actually passed.
#define LT_ARGS(N)                                                        \
  napi_value argv[N > 0 ? N : 1];                                         \
  size_t argc = N;                                                        \
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);             \
  if (argc > (size_t)(N)) argc = N;                                       \
  for (size_t i_ = argc; i_ < (size_t)(N); ++i_) napi_get_undefined(env, &argv[i_]);

// An entry point that reads one tensor argument, `self`, and returns `expr`, a JS value computed from it:
// the property getters (shape, dim, requiresGrad, ...) of the hot per-call paths. `op` and `tensor_args`
// are LT_CATCH's.
#define LT_TENSOR_GETTER(name, op, tensor_args, expr)    \
  napi_value name(napi_env env, napi_callback_info info) { \
    LT_ARGS(1);                                          \
    LT_TRY                                               \
    at::Tensor self = ::lt::arg_tensor(env, argv[0]);    \
    return expr;                                         \
    LT_CATCH(op, argv, argc, tensor_args)                \
  }
