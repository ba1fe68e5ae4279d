// The boxed route to every ATen operator: resolve an operator by schema name once, then call it with
// JavaScript arguments converted according to its schema. The typed TypeScript layer uses this for
// the long tail of operators; hot operators have generated unboxed entry points (generated/ops_fast.cc).
#include "common.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>

#include <sstream>

namespace lt {
namespace {

struct OpEntry {
  c10::OperatorHandle handle;
  std::string display;  // aten::add.Tensor
  uint64_t tensor_args;  // bit i: argument i holds tensors (for error messages)
  bool discard_result;   // in-place operators: JS returns the receiver, no new handle is made
};

std::vector<OpEntry>& ops() {
  static auto* v = new std::vector<OpEntry>();
  return *v;
}

bool holds_tensors(const c10::TypePtr& type) {
  switch (type->kind()) {
    case c10::TypeKind::TensorType: return true;
    case c10::TypeKind::OptionalType: return holds_tensors(type->castRaw<c10::OptionalType>()->getElementType());
    case c10::TypeKind::ListType: return holds_tensors(type->castRaw<c10::ListType>()->getElementType());
    default: return false;
  }
}

// The declared length of a list argument (`int[2] stride` -> 2) and whether an empty list is its
// documented default (`int[2] stride=[]`: pooling's "same as kernel_size").
struct ListArity {
  std::optional<int32_t> n;
  bool empty_ok = false;
};

ListArity arity_of(const c10::Argument& a) {
  const auto& d = a.default_value();
  return {a.N(), d && d->isIntList() && d->toIntList().empty()};
}

c10::IValue to_ivalue(napi_env env, napi_value v, const c10::TypePtr& type, const ListArity& arity);

c10::IValue to_list(napi_env env, napi_value v, const c10::TypePtr& elem, const ListArity& arity) {
  switch (elem->kind()) {
    case c10::TypeKind::TensorType: return c10::IValue(arg_tensor_list(env, v));
    case c10::TypeKind::OptionalType: {
      auto inner = elem->castRaw<c10::OptionalType>()->getElementType();
      if (inner->kind() == c10::TypeKind::TensorType) return c10::IValue(arg_optional_tensor_list(env, v));
      break;
    }
    case c10::TypeKind::IntType:
    case c10::TypeKind::SymIntType: {
      auto list = arg_int_list(env, v);
      const auto n = arity.n.value_or(0);
      // `int[2] kernel_size=3`: a single number stands for every element, as in Python.
      if (n > 1 && list.size() == 1) list.assign(n, list[0]);
      // Kernels index fixed-length lists without checking (reflection_pad1d_backward reads
      // padding[1]): a wrong length must stop here, not read past the end.
      else if (n > 1 && list.size() != static_cast<size_t>(n) && !(arity.empty_ok && list.empty()))
        throw ArgumentError("expected " + std::to_string(n) + " integers (or one for all), got " + std::to_string(list.size()));
      return c10::IValue(list);
    }
    case c10::TypeKind::FloatType: return c10::IValue(arg_double_list(env, v));
    case c10::TypeKind::BoolType: {
      bool is_array = false;
      napi_is_array(env, v, &is_array);
      if (!is_array) throw ArgumentError("expected an array of booleans");
      uint32_t n;
      napi_get_array_length(env, v, &n);
      if (arity.n && *arity.n > 1 && n != static_cast<uint32_t>(*arity.n))
        throw ArgumentError("expected " + std::to_string(*arity.n) + " booleans, got " + std::to_string(n));
      c10::List<bool> out;
      for (uint32_t i = 0; i < n; ++i) {
        napi_value e;
        napi_get_element(env, v, i, &e);
        out.push_back(arg_bool(env, e));
      }
      return c10::IValue(out);
    }
    default: break;
  }
  throw c10::NotImplementedError({__func__, __FILE__, static_cast<uint32_t>(__LINE__)},
                                 "arguments of type " + elem->str() + "[] cannot be passed from JavaScript yet");
}

c10::IValue to_ivalue(napi_env env, napi_value v, const c10::TypePtr& type, const ListArity& arity) {
  switch (type->kind()) {
    case c10::TypeKind::TensorType: return c10::IValue(arg_tensor(env, v));
    case c10::TypeKind::OptionalType:
      if (is_nullish(env, v)) return c10::IValue();
      return to_ivalue(env, v, type->castRaw<c10::OptionalType>()->getElementType(), arity);
    case c10::TypeKind::IntType:
    case c10::TypeKind::SymIntType: return c10::IValue(arg_int(env, v));
    case c10::TypeKind::FloatType: return c10::IValue(arg_double(env, v));
    case c10::TypeKind::BoolType: return c10::IValue(arg_bool(env, v));
    case c10::TypeKind::NumberType: return c10::IValue(arg_scalar(env, v));
    case c10::TypeKind::StringType: return c10::IValue(arg_string(env, v));
    case c10::TypeKind::ScalarTypeType: return c10::IValue(arg_dtype(env, v));
    case c10::TypeKind::LayoutType: return c10::IValue(arg_layout(env, v));
    case c10::TypeKind::MemoryFormatType: return c10::IValue(arg_memory_format(env, v));
    case c10::TypeKind::DeviceObjType: return c10::IValue(arg_device(env, v));
    case c10::TypeKind::ListType: return to_list(env, v, type->castRaw<c10::ListType>()->getElementType(), arity);
    case c10::TypeKind::GeneratorType:
      if (is_nullish(env, v)) return c10::IValue();
      break;
    default: break;
  }
  throw c10::NotImplementedError({__func__, __FILE__, static_cast<uint32_t>(__LINE__)},
                                 "arguments of type " + type->str() + " cannot be passed from JavaScript yet");
}

napi_value from_ivalue(napi_env env, const c10::IValue& v, const c10::TypePtr& type) {
  if (type && type->kind() == c10::TypeKind::ScalarTypeType && v.isInt())
    return make_string(env, dtype_name(static_cast<c10::ScalarType>(v.toInt())));
  if (v.isTensor()) return make_tensor(env, v.toTensor());
  if (v.isNone()) return make_null(env);
  if (v.isBool()) return make_bool(env, v.toBool());
  if (v.isInt()) return make_double(env, static_cast<double>(v.toInt()));
  if (v.isSymInt()) return make_double(env, static_cast<double>(v.toSymInt().guard_int(__FILE__, __LINE__)));
  if (v.isDouble()) return make_double(env, v.toDouble());
  if (v.isSymBool()) return make_bool(env, v.toSymBool().guard_bool(__FILE__, __LINE__));
  if (v.isString()) return make_string(env, v.toStringRef());
  if (v.isDevice()) return make_string(env, v.toDevice().str());
  if (v.isScalar()) return scalar_to_js(env, v.toScalar());
  auto make_array = [&](size_t n, auto get) {
    napi_value arr;
    napi_create_array_with_length(env, n, &arr);
    for (size_t i = 0; i < n; ++i) napi_set_element(env, arr, static_cast<uint32_t>(i), get(i));
    return arr;
  };
  if (v.isTensorList()) {
    auto list = v.toTensorList();
    return make_array(list.size(), [&](size_t i) { return make_tensor(env, list.get(i)); });
  }
  if (v.isList()) {
    auto list = v.toList();
    return make_array(list.size(), [&](size_t i) { return from_ivalue(env, list.get(i), nullptr); });
  }
  if (v.isTuple()) {
    const auto& elems = v.toTupleRef().elements();
    return make_array(elems.size(), [&](size_t i) { return from_ivalue(env, elems[i], nullptr); });
  }
  throw c10::NotImplementedError({__func__, __FILE__, static_cast<uint32_t>(__LINE__)},
                                 "results of kind " + v.tagKind() + " cannot be returned to JavaScript yet");
}

const OpEntry& op_at(napi_env env, napi_value v) {
  int64_t id = arg_int(env, v);
  if (id < 0 || static_cast<size_t>(id) >= ops().size()) throw ArgumentError("unknown operator id");
  return ops()[id];
}

// resolveOp(name: string, overload: string, discardResult?: boolean) -> id.
// The name may omit the "aten::" namespace.
napi_value resolve_op(napi_env env, napi_callback_info info) {
  LT_ARGS(3);
  LT_TRY
  std::string name = arg_string(env, argv[0]);
  std::string overload = is_nullish(env, argv[1]) ? "" : arg_string(env, argv[1]);
  if (name.find("::") == std::string::npos) name = "aten::" + name;
  auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
  if (!handle) {
    throw c10::ValueError({__func__, __FILE__, static_cast<uint32_t>(__LINE__)},
                          "no operator " + name + (overload.empty() ? "" : "." + overload) + " in this libtorch");
  }
  uint64_t mask = 0;
  const auto& args = handle->schema().arguments();
  for (size_t i = 0; i < args.size() && i < 64; ++i)
    if (holds_tensors(args[i].real_type())) mask |= uint64_t(1) << i;
  bool discard = !is_nullish(env, argv[2]) && arg_bool(env, argv[2]);
  ops().push_back({*handle, name + (overload.empty() ? "" : "." + overload), mask, discard});
  return make_int(env, static_cast<int64_t>(ops().size() - 1));
  LT_CATCH("torch.ops", argv, argc, 0)
}

// schemaOf(id) -> the operator's schema string, as PyTorch prints it.
napi_value schema_of(napi_env env, napi_callback_info info) {
  LT_ARGS(1);
  LT_TRY
  std::ostringstream os;
  os << op_at(env, argv[0]).handle.schema();
  return make_string(env, os.str());
  LT_CATCH_PLAIN("schemaOf")
}

// callOp(id, ...args): positional and keyword-only arguments in schema order; undefined takes the default.
napi_value call_op(napi_env env, napi_callback_info info) {
  constexpr size_t kMaxArgs = 40;
  napi_value argv[kMaxArgs];
  size_t argc = kMaxArgs;
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  const OpEntry* entry = nullptr;
  try {
    if (argc < 1) throw ArgumentError("callOp needs an operator id");
    entry = &op_at(env, argv[0]);
    const auto& schema = entry->handle.schema();
    const auto& args = schema.arguments();
    size_t given = argc - 1;
    if (given > args.size()) {
      std::ostringstream msg;
      msg << entry->display << " takes " << args.size() << " arguments but " << given << " were given";
      throw ArgumentError(msg.str());
    }
    torch::jit::Stack stack;
    stack.reserve(args.size());
    for (size_t i = 0; i < args.size(); ++i) {
      const auto& a = args[i];
      napi_value v = i < given ? argv[i + 1] : nullptr;
      if (v == nullptr || type_of(env, v) == napi_undefined) {
        if (a.default_value()) {
          stack.push_back(*a.default_value());
          continue;
        }
        if (a.real_type()->kind() == c10::TypeKind::OptionalType) {
          stack.emplace_back();
          continue;
        }
        throw ArgumentError(entry->display + ": missing required argument '" + a.name() + "'");
      }
      try {
        stack.push_back(to_ivalue(env, v, a.real_type(), arity_of(a)));
      } catch (const ArgumentError& e) {
        std::string type = a.real_type()->str();
        auto brackets = type.rfind("[]");  // show the declared length: int[2]
        if (a.N() && brackets != std::string::npos) type.insert(brackets + 1, std::to_string(*a.N()));
        throw ArgumentError(entry->display + ": argument '" + a.name() + "' (" + type + "): " + e.what());
      }
    }
    entry->handle.callBoxed(stack);
    const auto& returns = schema.returns();
    if (stack.empty() || entry->discard_result) return make_undefined(env);
    if (stack.size() == 1) return from_ivalue(env, stack[0], returns.empty() ? nullptr : returns[0].real_type());
    napi_value arr;
    napi_create_array_with_length(env, stack.size(), &arr);
    for (size_t i = 0; i < stack.size(); ++i)
      napi_set_element(env, arr, static_cast<uint32_t>(i), from_ivalue(env, stack[i], i < returns.size() ? returns[i].real_type() : nullptr));
    return arr;
  } catch (...) {
    std::string op = entry ? entry->display : "torch.ops";
    throw_current_exception(env, op.c_str(), argc > 1 ? argv + 1 : nullptr, argc > 1 ? argc - 1 : 0, entry ? entry->tensor_args : 0);
    return nullptr;
  }
}

}  // namespace

void register_dispatch(napi_env env, napi_value exports) {
  register_exports(env, exports, {{"resolveOp", resolve_op}, {"schemaOf", schema_of}, {"callOp", call_op}});
}

}  // namespace lt
