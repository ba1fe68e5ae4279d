// Autograd entry points: backward, autograd.grad, .grad access and the grad-mode switches.
// Grad mode is thread-local in libtorch; all tensor work happens on the JS thread.
#include "common.h"

#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/variable.h>

namespace lt {
namespace {

std::vector<at::Tensor> optional_list(napi_env env, napi_value v) {
  if (is_nullish(env, v)) return {};
  bool is_array = false;
  napi_is_array(env, v, &is_array);
  if (!is_array) return {arg_tensor(env, v)};
  uint32_t n;
  napi_get_array_length(env, v, &n);
  std::vector<at::Tensor> out;
  for (uint32_t i = 0; i < n; ++i) {
    napi_value e;
    napi_get_element(env, v, i, &e);
    out.push_back(is_nullish(env, e) ? at::Tensor() : arg_tensor(env, e));
  }
  return out;
}

// backward(outputs, gradients?, retainGraph?, createGraph?, inputs?)
napi_value backward(napi_env env, napi_callback_info info) {
  LT_ARGS(5);
  LT_TRY
  auto outputs = optional_list(env, argv[0]);
  auto grads = optional_list(env, argv[1]);
  bool create_graph = !is_nullish(env, argv[3]) && arg_bool(env, argv[3]);
  std::optional<bool> retain = is_nullish(env, argv[2]) ? std::nullopt : std::optional<bool>(arg_bool(env, argv[2]));
  auto inputs = optional_list(env, argv[4]);
  torch::autograd::backward(outputs, grads, retain, create_graph, inputs);
  return make_undefined(env);
  LT_CATCH("backward", argv, argc, 0b10011)
}

// grad(outputs, inputs, gradOutputs?, retainGraph?, createGraph?, allowUnused?) -> (Tensor | null)[]
napi_value grad(napi_env env, napi_callback_info info) {
  LT_ARGS(6);
  LT_TRY
  auto outputs = optional_list(env, argv[0]);
  auto inputs = optional_list(env, argv[1]);
  auto grad_outputs = optional_list(env, argv[2]);
  std::optional<bool> retain = is_nullish(env, argv[3]) ? std::nullopt : std::optional<bool>(arg_bool(env, argv[3]));
  bool create_graph = !is_nullish(env, argv[4]) && arg_bool(env, argv[4]);
  bool allow_unused = !is_nullish(env, argv[5]) && arg_bool(env, argv[5]);
  auto result = torch::autograd::grad(outputs, inputs, grad_outputs, retain, create_graph, allow_unused);
  napi_value arr;
  napi_create_array_with_length(env, result.size(), &arr);
  for (size_t i = 0; i < result.size(); ++i) napi_set_element(env, arr, static_cast<uint32_t>(i), make_tensor(env, result[i]));
  return arr;
  LT_CATCH("torch.autograd.grad", argv, argc, 0b111)
}

LT_TENSOR_GETTER(get_grad, "Tensor.grad", 1, make_tensor(env, self.grad()))

// setGrad(h, g | null)
napi_value set_grad(napi_env env, napi_callback_info info) {
  LT_ARGS(2);
  LT_TRY
  const at::Tensor& t = arg_tensor(env, argv[0]);
  if (is_nullish(env, argv[1])) {
    t.mutable_grad().reset();
  } else {
    const at::Tensor& g = arg_tensor(env, argv[1]);
    TORCH_CHECK_VALUE(g.sizes() == t.sizes(), "assigned grad has shape ", g.sizes(), " but the tensor has shape ", t.sizes());
    TORCH_CHECK_TYPE(g.scalar_type() == t.scalar_type(), "assigned grad has dtype ", g.scalar_type(), " but the tensor has ", t.scalar_type());
    TORCH_CHECK_VALUE(g.device() == t.device(), "assigned grad is on ", g.device(), " but the tensor is on ", t.device());
    t.mutable_grad() = g;
  }
  return make_undefined(env);
  LT_CATCH("Tensor.grad =", argv, argc, 0b11)
}

LT_TENSOR_GETTER(requires_grad, "Tensor.requiresGrad", 1, make_bool(env, self.requires_grad()))
LT_TENSOR_GETTER(is_leaf, "Tensor.isLeaf", 1, make_bool(env, self.is_leaf()))

// The name of the node that made a tensor (its grad_fn), or null where there is none (a leaf).
napi_value node_name(napi_env env, const torch::autograd::Node* fn) {
  return fn ? make_string(env, fn->name()) : make_null(env);
}
LT_TENSOR_GETTER(grad_fn_name, "Tensor.gradFn", 1, node_name(env, self.grad_fn().get()))

napi_value is_grad_enabled(napi_env env, napi_callback_info) { return make_bool(env, c10::GradMode::is_enabled()); }

napi_value set_grad_enabled(napi_env env, napi_callback_info info) {
  LT_ARGS(1);
  LT_TRY
  bool previous = c10::GradMode::is_enabled();
  c10::GradMode::set_enabled(arg_bool(env, argv[0]));
  return make_bool(env, previous);
  LT_CATCH_PLAIN("setGradEnabled")
}

// Inference mode is an RAII guard in C++; JS enters and exits it in strict stack order.
std::vector<std::unique_ptr<c10::InferenceMode>>& inference_guards() {
  static auto* v = new std::vector<std::unique_ptr<c10::InferenceMode>>();
  return *v;
}

napi_value enter_inference_mode(napi_env env, napi_callback_info info) {
  LT_ARGS(1);
  LT_TRY
  bool enabled = is_nullish(env, argv[0]) ? true : arg_bool(env, argv[0]);
  inference_guards().push_back(std::make_unique<c10::InferenceMode>(enabled));
  return make_double(env, static_cast<double>(inference_guards().size()));
  LT_CATCH_PLAIN("inferenceMode")
}

napi_value exit_inference_mode(napi_env env, napi_callback_info info) {
  LT_TRY
  if (inference_guards().empty()) throw ArgumentError("exitInferenceMode without a matching enter");
  inference_guards().pop_back();
  return make_undefined(env);
  LT_CATCH_PLAIN("inferenceMode")
}

napi_value is_inference_mode(napi_env env, napi_callback_info) { return make_bool(env, c10::InferenceMode::is_enabled()); }

}  // namespace

void register_autograd(napi_env env, napi_value exports) {
  register_exports(env, exports,
                   {{"backward", backward},
                    {"autogradGrad", grad},
                    {"getGrad", get_grad},
                    {"setGrad", set_grad},
                    {"requiresGrad", requires_grad},
                    {"isLeaf", is_leaf},
                    {"gradFnName", grad_fn_name},
                    {"isGradEnabled", is_grad_enabled},
                    {"setGradEnabled", set_grad_enabled},
                    {"enterInferenceMode", enter_inference_mode},
                    {"exitInferenceMode", exit_inference_mode},
                    {"isInferenceMode", is_inference_mode}});
}

}  // namespace lt
