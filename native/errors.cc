// Translation of C++ exceptions into the JavaScript TorchError hierarchy (src/torch/errors.ts).
//
// JavaScript registers a factory (kind, message) -> Error at load time, so errors are created by the
// library's own classes and `instanceof TorchError` works in the caller's realm.
#include "common.h"

#include <sstream>

namespace lt {

std::string cuda_unavailable_reason();  // runtime.cc (or cuda_runtime.cc): empty when CUDA is usable

namespace {
napi_ref g_factory = nullptr;

// A CUDA tensor asked of a libtorch or machine without CUDA: libtorch reports a missing kernel (followed
// by the dispatcher's whole table of backends) or a missing CUDA library or driver. Say plainly that
// CUDA is unavailable, and why. Returns whether the message was such a report.
bool explain_missing_cuda(std::string& message) {
  std::string reason = cuda_unavailable_reason();  // empty when CUDA is usable
  const std::string suffix = reason.empty() ? "" : ": CUDA is not available (" + reason + ")";
  const std::string kernel = " with arguments from the 'CUDA' backend";
  auto pos = message.find(kernel);
  if (pos != std::string::npos) {
    if (reason.empty()) return false;  // CUDA works: a genuinely missing kernel
    message = message.substr(0, pos + kernel.size()) + suffix;
    return true;
  }
  for (const char* marker : {"is not linked with support for cuda devices", "CUDA driver version is insufficient",
                             "no CUDA GPUs are available", "Found no NVIDIA driver"}) {
    if (message.find(marker) != std::string::npos) {
      message += suffix;
      return true;
    }
  }
  return false;
}

std::string strip_backtrace(std::string msg) {
  // torch appends "Exception raised from ..." with a C++ backtrace; the JS stack is what users need.
  for (const char* marker : {"\nException raised from ", "Exception raised from "}) {
    auto pos = msg.find(marker);
    if (pos != std::string::npos) msg.erase(pos);
  }
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  return msg;
}

std::string describe_arg(napi_env env, napi_value v) {
  napi_valuetype t = type_of(env, v);
  if (t == napi_number) {
    try {
      return describe_tensor(table_get(env, arg_handle(env, v)));
    } catch (...) {
      return "<disposed tensor>";
    }
  }
  bool is_array = false;
  napi_is_array(env, v, &is_array);
  if (is_array) {
    uint32_t n = 0;
    napi_get_array_length(env, v, &n);
    std::string out = "[";
    for (uint32_t i = 0; i < n && i < 8; ++i) {
      napi_value e;
      napi_get_element(env, v, i, &e);
      if (i) out += ", ";
      out += is_nullish(env, e) ? "None" : describe_arg(env, e);
    }
    if (n > 8) out += ", ...";
    return out + "]";
  }
  return is_nullish(env, v) ? "None" : "?";
}
}  // namespace

void throw_js_error(napi_env env, const char* kind, const std::string& message) {
  napi_value factory = nullptr;
  if (g_factory) napi_get_reference_value(env, g_factory, &factory);
  if (factory) {
    napi_value args[2] = {make_string(env, kind), make_string(env, message)};
    napi_value global, err;
    napi_get_global(env, &global);
    if (napi_call_function(env, global, factory, 2, args, &err) == napi_ok) {
      napi_throw(env, err);
      return;
    }
  }
  napi_throw_error(env, kind, message.c_str());
}

void throw_current_exception(napi_env env, const char* op, const napi_value* args, size_t argc, uint64_t tensor_args) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return;  // a JS exception is already on its way
  const char* kind = "RuntimeError";
  std::string message;
  try {
    throw;
  } catch (const c10::IndexError& e) {
    kind = "IndexError", message = e.msg();
  } catch (const c10::ValueError& e) {
    kind = "ValueError", message = e.msg();
  } catch (const c10::TypeError& e) {
    kind = "TypeError", message = e.msg();
  } catch (const c10::NotImplementedError& e) {
    message = e.msg();
    kind = explain_missing_cuda(message) ? "CudaUnavailableError" : "NotImplementedError";
  } catch (const c10::OutOfMemoryError& e) {
    kind = "OutOfMemoryError", message = e.msg();
  } catch (const c10::LinAlgError& e) {
    kind = "LinAlgError", message = e.msg();
  } catch (const c10::Error& e) {
    message = e.msg();
    if (explain_missing_cuda(message)) kind = "CudaUnavailableError";
  } catch (const HandleError& e) {
    kind = "DisposedTensorError", message = e.what();
  } catch (const ArgumentError& e) {
    kind = "TypeError", message = e.what();
  } catch (const std::bad_alloc&) {
    kind = "OutOfMemoryError", message = "out of host memory";
  } catch (const std::exception& e) {
    message = e.what();
  } catch (...) {
    message = "unknown C++ exception";
  }
  std::ostringstream full;
  full << strip_backtrace(message);
  if (op && *op) {
    full << "\n  in " << op;
    if (tensor_args) {
      full << "(";
      bool first = true;
      for (size_t i = 0; i < argc && i < 64; ++i) {
        if (!(tensor_args >> i & 1)) continue;
        if (!first) full << ", ";
        first = false;
        full << "arg" << i << ": " << describe_arg(env, args[i]);
      }
      full << ")";
    }
  }
  throw_js_error(env, kind, full.str());
}

napi_value set_error_factory(napi_env env, napi_callback_info info) {
  LT_ARGS(1);
  if (type_of(env, argv[0]) != napi_function) {
    napi_throw_type_error(env, nullptr, "setErrorFactory expects a function");
    return nullptr;
  }
  if (g_factory) napi_delete_reference(env, g_factory);
  napi_create_reference(env, argv[0], 1, &g_factory);
  return make_undefined(env);
}

}  // namespace lt
