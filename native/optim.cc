// Optimizers (AdamW on libtorch's fused kernel, torch::optim SGD), gradient-norm clipping and
// generator (RNG) state.
//
// An optimizer lives in a JS external whose finalizer frees it; its state (moments, momentum
// buffers) stays here, outside the tensor handle table, so no torch.scope can ever sweep it. The
// state crosses into JS only on request (stateDict), as new handles to the live tensors.
//
// torch/optim headers pull in the whole C++ frontend: keep them in this file only.
#include "common.h"

#include <ATen/Context.h>
#include <ATen/core/Generator.h>
#include <ATen/ops/_foreach_mul.h>
#include <ATen/ops/_fused_adamw.h>
#include <ATen/ops/_foreach_norm.h>
#include <ATen/ops/clamp.h>
#include <ATen/ops/full.h>
#include <ATen/ops/zeros_like.h>
#include <ATen/ops/linalg_vector_norm.h>
#include <ATen/ops/stack.h>
#include <c10/core/GradMode.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <unordered_set>

namespace lt {
namespace {

// ---- small N-API helpers local to this file ----

uint32_t array_len(napi_env env, napi_value v, const char* what) {
  bool is_array = false;
  napi_is_array(env, v, &is_array);
  if (!is_array) throw ArgumentError(std::string("expected ") + what + " to be an array");
  uint32_t n = 0;
  napi_get_array_length(env, v, &n);
  return n;
}

napi_value elem(napi_env env, napi_value arr, uint32_t i) {
  napi_value e;
  napi_get_element(env, arr, i, &e);
  return e;
}

void set_prop(napi_env env, napi_value obj, const char* name, napi_value v) { napi_set_named_property(env, obj, name, v); }

// ---- the optimizer object ----

enum class Kind { AdamW, SGD };

const char* kind_name(Kind k) { return k == Kind::AdamW ? "AdamW" : "SGD"; }

struct OptimizerBox {
  Kind kind;
  std::unique_ptr<torch::optim::Optimizer> optimizer;  // null once disposed
};

// AdamW whose step is libtorch's fused kernel (_fused_adamw_, what torch.optim.AdamW(fused=True)
// runs): one pass over each parameter's memory for the moments, bias corrections, decoupled weight
// decay and update, where torch::optim::AdamW's step runs about seven operators per parameter, each
// a pass over memory (measured on bench sft's 3.2 M parameters, one thread: bench/README.md).
// The state is torch::optim::AdamW's own (AdamWParamState), so stateDict/loadStateDict, and the
// unfused step taken when a parameter does not fit the kernel (a sparse or non-contiguous gradient,
// an integer or complex dtype, a device other than CPU and CUDA), all see one state.
class FusedAdamW final : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;

  torch::Tensor step(LossClosure closure = nullptr) override {
    if (!fits_kernel()) return torch::optim::AdamW::step(std::move(closure));
    at::Tensor loss;
    if (closure) {
      at::AutoGradMode enable_grad(true);
      loss = closure();
    }
    c10::NoGradGuard no_grad;
    for (auto& group : param_groups()) {
      const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
      // One kernel call per (device, dtype): the CUDA kernel takes lists of one device and dtype.
      std::vector<Bucket> buckets;
      for (auto& p : group.params()) {
        if (!p.grad().defined()) continue;
        auto& s = state_of(p, o.amsgrad());
        s.step(s.step() + 1);
        Bucket& b = bucket_for(buckets, p);
        b.params.push_back(p);
        b.grads.push_back(p.grad());
        b.exp_avgs.push_back(s.exp_avg());
        b.exp_avg_sqs.push_back(s.exp_avg_sq());
        if (o.amsgrad()) b.max_exp_avg_sqs.push_back(s.max_exp_avg_sq());
        b.steps.push_back(step_tensor(b, s.step(), p));
      }
      const auto [beta1, beta2] = o.betas();
      for (auto& b : buckets)
        at::_fused_adamw_(b.params, b.grads, b.exp_avgs, b.exp_avg_sqs, b.max_exp_avg_sqs, b.steps, o.lr(), beta1,
                          beta2, o.weight_decay(), o.eps(), o.amsgrad(), /*maximize=*/false);
    }
    return loss;
  }

 private:
  struct Bucket {
    at::Device device;
    at::ScalarType dtype;
    std::vector<at::Tensor> params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps;
    at::Tensor last_step;  // the step tensor made last in this bucket, for last_step_count
    int64_t last_step_count = -1;
  };

  // The kernel reads each parameter's step count (already advanced) from a float32 tensor on its
  // device and never writes it, so parameters at the same count share one: usually one tensor a
  // bucket a step, not one per parameter (on CUDA each is a fill launch).
  static const at::Tensor& step_tensor(Bucket& b, int64_t count, const at::Tensor& p) {
    if (count != b.last_step_count) {
      b.last_step = at::full({}, static_cast<double>(count), p.options().dtype(at::kFloat));
      b.last_step_count = count;
    }
    return b.last_step;
  }

  static Bucket& bucket_for(std::vector<Bucket>& buckets, const at::Tensor& p) {
    for (auto& b : buckets)
      if (b.device == p.device() && b.dtype == p.scalar_type()) return b;
    buckets.push_back(Bucket{p.device(), p.scalar_type(), {}, {}, {}, {}, {}, {}, {}, -1});
    return buckets.back();
  }

  // Lazily created as torch::optim::AdamW creates it (zeros laid out like the parameter).
  torch::optim::AdamWParamState& state_of(const at::Tensor& p, bool amsgrad) {
    auto& slot = state()[p.unsafeGetTensorImpl()];
    if (!slot) {
      auto s = std::make_unique<torch::optim::AdamWParamState>();
      s->step(0);
      s->exp_avg(at::zeros_like(p, at::MemoryFormat::Preserve));
      s->exp_avg_sq(at::zeros_like(p, at::MemoryFormat::Preserve));
      slot = std::move(s);
    }
    auto& s = static_cast<torch::optim::AdamWParamState&>(*slot);
    if (amsgrad && !s.max_exp_avg_sq().defined()) s.max_exp_avg_sq(at::zeros_like(p, at::MemoryFormat::Preserve));
    return s;
  }

  static bool contiguous_like(const at::Tensor& t, const at::Tensor& p) {
    return t.is_contiguous() && t.scalar_type() == p.scalar_type() && t.device() == p.device();
  }

  // Whether every parameter with a gradient, and its state, fits the kernel (dense, contiguous, one
  // floating dtype and device per parameter, CPU or CUDA).
  bool fits_kernel() {
    for (auto& group : param_groups())
      for (auto& p : group.params()) {
        const at::Tensor& g = p.grad();
        if (!g.defined()) continue;
        const auto dt = p.scalar_type();
        const bool dtype_ok = dt == at::kFloat || dt == at::kDouble || dt == at::kHalf || dt == at::kBFloat16;
        if (!dtype_ok || !(p.is_cpu() || p.is_cuda()) || p.layout() != at::kStrided || g.layout() != at::kStrided ||
            !p.is_contiguous() || !contiguous_like(g, p))
          return false;
        auto it = state().find(p.unsafeGetTensorImpl());
        if (it == state().end()) continue;
        const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
        if (!contiguous_like(s.exp_avg(), p) || !contiguous_like(s.exp_avg_sq(), p)) return false;
        if (s.max_exp_avg_sq().defined() && !contiguous_like(s.max_exp_avg_sq(), p)) return false;
      }
    return true;
  }
};

// Tags the externals this file creates, so a foreign external passed by mistake is refused.
constexpr napi_type_tag kOptimizerTag = {0x6c74'6f70'7469'6d31ULL, 0x9e37'79b9'7f4a'7c15ULL};

void finalize_box(napi_env, void* data, void*) { delete static_cast<OptimizerBox*>(data); }

OptimizerBox& box_of(napi_env env, napi_value v) {
  bool tagged = false;
  if (type_of(env, v) != napi_external || napi_check_object_type_tag(env, v, &kOptimizerTag, &tagged) != napi_ok || !tagged)
    throw ArgumentError("expected a native optimizer object");
  void* data = nullptr;
  napi_get_value_external(env, v, &data);
  return *static_cast<OptimizerBox*>(data);
}

struct LiveOptimizer {
  Kind kind;
  torch::optim::Optimizer& optimizer;
};

// The optimizer an entry point works on, refused once disposed.
LiveOptimizer live_optimizer(napi_env env, napi_value v) {
  OptimizerBox& box = box_of(env, v);
  if (!box.optimizer) throw HandleError(std::string("this ") + kind_name(box.kind) + " optimizer has been disposed");
  return {box.kind, *box.optimizer};
}

// ---- hyperparameters: read from a JS object (only the fields present), validated per group ----

std::string group_label(Kind kind, int64_t group) {
  return std::string(kind_name(kind)) + " param group " + std::to_string(group);
}

void check_finite_nonnegative(double v, const std::string& where, const char* name) {
  TORCH_CHECK_VALUE(std::isfinite(v) && v >= 0, where, ": ", name, " must be a finite number >= 0, got ", v);
}

void apply_adamw_options(napi_env env, napi_value o, torch::optim::AdamWOptions& opt, const std::string& where) {
  if (has_prop(env, o, "lr")) opt.lr(arg_double(env, get_prop(env, o, "lr")));
  if (has_prop(env, o, "eps")) opt.eps(arg_double(env, get_prop(env, o, "eps")));
  if (has_prop(env, o, "weightDecay")) opt.weight_decay(arg_double(env, get_prop(env, o, "weightDecay")));
  if (has_prop(env, o, "amsgrad")) opt.amsgrad(arg_bool(env, get_prop(env, o, "amsgrad")));
  if (has_prop(env, o, "betas")) {
    auto betas = arg_double_list(env, get_prop(env, o, "betas"));
    TORCH_CHECK_VALUE(betas.size() == 2, where, ": betas must be two numbers [beta1, beta2], got ", betas.size());
    opt.betas(std::make_tuple(betas[0], betas[1]));
  }
  check_finite_nonnegative(opt.lr(), where, "lr");
  check_finite_nonnegative(opt.eps(), where, "eps");
  check_finite_nonnegative(opt.weight_decay(), where, "weightDecay");
  auto [b1, b2] = opt.betas();
  TORCH_CHECK_VALUE(b1 >= 0 && b1 < 1, where, ": betas[0] must be in [0, 1), got ", b1);
  TORCH_CHECK_VALUE(b2 >= 0 && b2 < 1, where, ": betas[1] must be in [0, 1), got ", b2);
}

void apply_sgd_options(napi_env env, napi_value o, torch::optim::SGDOptions& opt, const std::string& where) {
  if (has_prop(env, o, "lr")) opt.lr(arg_double(env, get_prop(env, o, "lr")));
  if (has_prop(env, o, "momentum")) opt.momentum(arg_double(env, get_prop(env, o, "momentum")));
  if (has_prop(env, o, "dampening")) opt.dampening(arg_double(env, get_prop(env, o, "dampening")));
  if (has_prop(env, o, "weightDecay")) opt.weight_decay(arg_double(env, get_prop(env, o, "weightDecay")));
  if (has_prop(env, o, "nesterov")) opt.nesterov(arg_bool(env, get_prop(env, o, "nesterov")));
  check_finite_nonnegative(opt.lr(), where, "lr");
  check_finite_nonnegative(opt.momentum(), where, "momentum");
  check_finite_nonnegative(opt.weight_decay(), where, "weightDecay");
  TORCH_CHECK_VALUE(std::isfinite(opt.dampening()), where, ": dampening must be finite, got ", opt.dampening());
  TORCH_CHECK_VALUE(!opt.nesterov() || (opt.momentum() > 0 && opt.dampening() == 0), where,
                    ": Nesterov momentum requires a momentum > 0 and zero dampening (momentum ", opt.momentum(),
                    ", dampening ", opt.dampening(), ")");
}

// Applies the fields present in `o` to group `g`, all-or-nothing (validated on a copy first).
void apply_group_options(napi_env env, Kind kind, torch::optim::OptimizerParamGroup& group, int64_t g, napi_value o) {
  const std::string where = group_label(kind, g);
  if (kind == Kind::AdamW) {
    auto& current = static_cast<torch::optim::AdamWOptions&>(group.options());
    torch::optim::AdamWOptions next = current;
    apply_adamw_options(env, o, next, where);
    current = next;
  } else {
    auto& current = static_cast<torch::optim::SGDOptions&>(group.options());
    torch::optim::SGDOptions next = current;
    apply_sgd_options(env, o, next, where);
    current = next;
  }
}

napi_value group_options_to_js(napi_env env, Kind kind, const torch::optim::OptimizerParamGroup& group) {
  napi_value o;
  napi_create_object(env, &o);
  if (kind == Kind::AdamW) {
    const auto& opt = static_cast<const torch::optim::AdamWOptions&>(group.options());
    set_prop(env, o, "lr", make_double(env, opt.lr()));
    napi_value betas;
    napi_create_array_with_length(env, 2, &betas);
    napi_set_element(env, betas, 0, make_double(env, std::get<0>(opt.betas())));
    napi_set_element(env, betas, 1, make_double(env, std::get<1>(opt.betas())));
    set_prop(env, o, "betas", betas);
    set_prop(env, o, "eps", make_double(env, opt.eps()));
    set_prop(env, o, "weightDecay", make_double(env, opt.weight_decay()));
    set_prop(env, o, "amsgrad", make_bool(env, opt.amsgrad()));
  } else {
    const auto& opt = static_cast<const torch::optim::SGDOptions&>(group.options());
    set_prop(env, o, "lr", make_double(env, opt.lr()));
    set_prop(env, o, "momentum", make_double(env, opt.momentum()));
    set_prop(env, o, "dampening", make_double(env, opt.dampening()));
    set_prop(env, o, "weightDecay", make_double(env, opt.weight_decay()));
    set_prop(env, o, "nesterov", make_bool(env, opt.nesterov()));
  }
  return o;
}

// ---- entry points ----

// optimCreate(kind: 'adamw' | 'sgd', groups: {params: handle[], ...options}[]) -> external
napi_value optim_create(napi_env env, napi_callback_info info) {
  LT_ARGS(2);
  LT_TRY
  std::string kind_str = arg_string(env, argv[0]);
  Kind kind;
  if (kind_str == "adamw") kind = Kind::AdamW;
  else if (kind_str == "sgd") kind = Kind::SGD;
  else throw ArgumentError("unknown optimizer kind '" + kind_str + "' (expected 'adamw' or 'sgd')");

  uint32_t n_groups = array_len(env, argv[1], "param groups");
  TORCH_CHECK_VALUE(n_groups > 0, kind_name(kind), ": the optimizer got an empty list of param groups");
  std::vector<torch::optim::OptimizerParamGroup> groups;
  std::unordered_set<const void*> seen;
  for (uint32_t g = 0; g < n_groups; ++g) {
    napi_value spec = elem(env, argv[1], g);
    std::vector<at::Tensor> params = arg_tensor_list(env, get_prop(env, spec, "params"));
    TORCH_CHECK_VALUE(!params.empty(), group_label(kind, g), " has no parameters");
    for (size_t i = 0; i < params.size(); ++i) {
      const at::Tensor& p = params[i];
      TORCH_CHECK_VALUE(p.is_leaf(), group_label(kind, g), ": parameter ", i, " is not a leaf tensor (",
                        describe_tensor(p), "); optimizers update leaves such as nn.Parameter");
      TORCH_CHECK_VALUE(at::isFloatingType(p.scalar_type()), group_label(kind, g), ": parameter ", i,
                        " has dtype ", p.scalar_type(), "; only floating-point tensors can be optimized");
      TORCH_CHECK_VALUE(seen.insert(p.unsafeGetTensorImpl()).second, group_label(kind, g), ": parameter ", i,
                        " appears more than once among the param groups");
    }
    std::unique_ptr<torch::optim::OptimizerOptions> options;
    // Each group gets complete options of its own: torch::optim otherwise merges a group's options
    // with the defaults by comparing against constructor defaults, which silently drops explicit
    // values that happen to equal those defaults.
    if (kind == Kind::AdamW) {
      auto opt = std::make_unique<torch::optim::AdamWOptions>();
      apply_adamw_options(env, spec, *opt, group_label(kind, g));
      options = std::move(opt);
    } else {
      auto opt = std::make_unique<torch::optim::SGDOptions>(0.0);
      apply_sgd_options(env, spec, *opt, group_label(kind, g));
      options = std::move(opt);
    }
    groups.emplace_back(std::move(params), std::move(options));
  }

  auto box = std::make_unique<OptimizerBox>();
  box->kind = kind;
  if (kind == Kind::AdamW) {
    box->optimizer =
        std::make_unique<FusedAdamW>(std::vector<torch::optim::OptimizerParamGroup>{}, torch::optim::AdamWOptions());
  } else {
    box->optimizer = std::make_unique<torch::optim::SGD>(std::vector<torch::optim::OptimizerParamGroup>{},
                                                         torch::optim::SGDOptions(0.0));
  }
  // Re-apply each group's own options after add_param_group (see the merge note above).
  for (uint32_t g = 0; g < n_groups; ++g) {
    std::unique_ptr<torch::optim::OptimizerOptions> own = groups[g].options().clone();
    box->optimizer->add_param_group(groups[g]);
    box->optimizer->param_groups().back().set_options(std::move(own));
  }

  napi_value ext;
  OptimizerBox* raw = box.release();
  if (napi_create_external(env, raw, finalize_box, nullptr, &ext) != napi_ok) {
    delete raw;
    throw std::runtime_error("could not create the optimizer object");
  }
  napi_type_tag_object(env, ext, &kOptimizerTag);
  return ext;
  LT_CATCH("optim.create", argv, argc, 0)
}

napi_value optim_step(napi_env env, napi_callback_info info) {
  LT_ARGS(1);
  LT_TRY
  live_optimizer(env, argv[0]).optimizer.step();
  return make_undefined(env);
  LT_CATCH_PLAIN("Optimizer.step")
}

// optimZeroGrad(opt, setToNone)
napi_value optim_zero_grad(napi_env env, napi_callback_info info) {
  LT_ARGS(2);
  LT_TRY
  live_optimizer(env, argv[0]).optimizer.zero_grad(is_nullish(env, argv[1]) || arg_bool(env, argv[1]));
  return make_undefined(env);
  LT_CATCH_PLAIN("Optimizer.zeroGrad")
}

// optimGroups(opt) -> options per group (without params)
napi_value optim_groups(napi_env env, napi_callback_info info) {
  LT_ARGS(1);
  LT_TRY
  auto [kind, opt] = live_optimizer(env, argv[0]);
  napi_value arr;
  napi_create_array_with_length(env, opt.param_groups().size(), &arr);
  for (size_t g = 0; g < opt.param_groups().size(); ++g)
    napi_set_element(env, arr, static_cast<uint32_t>(g), group_options_to_js(env, kind, opt.param_groups()[g]));
  return arr;
  LT_CATCH_PLAIN("Optimizer.paramGroups")
}

// optimSetGroup(opt, groupIndex, {lr?, weightDecay?, ...})
napi_value optim_set_group(napi_env env, napi_callback_info info) {
  LT_ARGS(3);
  LT_TRY
  auto [kind, opt] = live_optimizer(env, argv[0]);
  int64_t g = arg_int(env, argv[1]);
  TORCH_CHECK_INDEX(g >= 0 && g < static_cast<int64_t>(opt.param_groups().size()), kind_name(kind),
                    ": no param group ", g, " (the optimizer has ", opt.param_groups().size(), ")");
  apply_group_options(env, kind, opt.param_groups()[g], g, argv[2]);
  return make_undefined(env);
  LT_CATCH_PLAIN("Optimizer.paramGroups[].set")
}

// The optimizer's parameters in order (group by group), as in PyTorch's state_dict numbering.
std::vector<at::Tensor> all_params(torch::optim::Optimizer& opt) {
  std::vector<at::Tensor> out;
  for (auto& group : opt.param_groups())
    for (auto& p : group.params()) out.push_back(p);
  return out;
}

// optimGetState(opt) -> (null | {step, exp_avg, exp_avg_sq, max_exp_avg_sq?} | {momentum_buffer})[]
// The tensors are new handles to the live state (not copies), like PyTorch's state_dict().
napi_value optim_get_state(napi_env env, napi_callback_info info) {
  LT_ARGS(1);
  LT_TRY
  auto [kind, opt] = live_optimizer(env, argv[0]);
  auto params = all_params(opt);
  napi_value arr;
  napi_create_array_with_length(env, params.size(), &arr);
  for (size_t i = 0; i < params.size(); ++i) {
    auto it = opt.state().find(params[i].unsafeGetTensorImpl());
    napi_value entry = make_null(env);
    if (it != opt.state().end()) {
      napi_create_object(env, &entry);
      if (kind == Kind::AdamW) {
        const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
        set_prop(env, entry, "step", make_int(env, s.step()));
        set_prop(env, entry, "exp_avg", make_tensor(env, s.exp_avg()));
        set_prop(env, entry, "exp_avg_sq", make_tensor(env, s.exp_avg_sq()));
        if (s.max_exp_avg_sq().defined()) set_prop(env, entry, "max_exp_avg_sq", make_tensor(env, s.max_exp_avg_sq()));
      } else {
        const auto& s = static_cast<const torch::optim::SGDParamState&>(*it->second);
        if (s.momentum_buffer().defined()) set_prop(env, entry, "momentum_buffer", make_tensor(env, s.momentum_buffer()));
      }
    }
    napi_set_element(env, arr, static_cast<uint32_t>(i), entry);
  }
  return arr;
  LT_CATCH_PLAIN("Optimizer.stateDict")
}

// A copy of `src` laid out like `param` (device, dtype, memory format), after checking its shape.
at::Tensor state_like(const at::Tensor& src, const at::Tensor& param, const std::string& where) {
  TORCH_CHECK_VALUE(src.sizes() == param.sizes(), where, " has shape ", src.sizes(), " but the parameter has shape ",
                    param.sizes());
  at::Tensor out = at::empty_like(param, at::MemoryFormat::Preserve);
  out.copy_(src);
  return out;
}

// optimSetState(opt, entries) with entries shaped like optimGetState's result. All entries are
// validated and converted before any state is replaced. Tensors are copied.
napi_value optim_set_state(napi_env env, napi_callback_info info) {
  LT_ARGS(2);
  LT_TRY
  auto [kind, opt] = live_optimizer(env, argv[0]);
  uint32_t n = array_len(env, argv[1], "optimizer state entries");
  auto params = all_params(opt);
  TORCH_CHECK_VALUE(n == params.size(), kind_name(kind), ": the state has entries for ", n,
                    " parameters but the optimizer has ", params.size());
  c10::NoGradGuard no_grad;
  std::vector<std::unique_ptr<torch::optim::OptimizerParamState>> next(n);
  for (uint32_t i = 0; i < n; ++i) {
    napi_value e = elem(env, argv[1], i);
    if (is_nullish(env, e)) continue;
    const std::string where = std::string(kind_name(kind)) + " state of parameter " + std::to_string(i);
    auto tensor_field = [&](const char* name, bool required) -> at::Tensor {
      if (!has_prop(env, e, name)) {
        TORCH_CHECK_VALUE(!required, where, " lacks '", name, "'");
        return at::Tensor();
      }
      return state_like(arg_tensor(env, get_prop(env, e, name)), params[i], where + " '" + name + "'");
    };
    if (kind == Kind::AdamW) {
      auto s = std::make_unique<torch::optim::AdamWParamState>();
      TORCH_CHECK_VALUE(has_prop(env, e, "step"), where, " lacks 'step'");
      int64_t step = arg_int(env, get_prop(env, e, "step"));
      TORCH_CHECK_VALUE(step >= 0, where, ": step must be >= 0, got ", step);
      s->step(step);
      s->exp_avg(tensor_field("exp_avg", true));
      s->exp_avg_sq(tensor_field("exp_avg_sq", true));
      s->max_exp_avg_sq(tensor_field("max_exp_avg_sq", false));
      next[i] = std::move(s);
    } else {
      auto s = std::make_unique<torch::optim::SGDParamState>();
      s->momentum_buffer(tensor_field("momentum_buffer", false));
      next[i] = std::move(s);
    }
  }
  opt.state().clear();
  for (uint32_t i = 0; i < n; ++i)
    if (next[i]) opt.state()[params[i].unsafeGetTensorImpl()] = std::move(next[i]);
  return make_undefined(env);
  LT_CATCH_PLAIN("Optimizer.loadStateDict")
}

napi_value optim_dispose(napi_env env, napi_callback_info info) {
  LT_ARGS(1);
  LT_TRY
  box_of(env, argv[0]).optimizer = nullptr;
  return make_undefined(env);
  LT_CATCH_PLAIN("Optimizer.dispose")
}

// ---- gradient clipping ----

// clipGradNorm(paramHandles, maxNorm, normType, errorIfNonfinite) -> total norm (before clipping).
// torch.nn.utils.clip_grad_norm_'s algorithm: per-gradient norms (_foreach_norm where PyTorch uses
// the foreach path, i.e. on CUDA), their norm as the total, and every gradient multiplied by
// clamp(maxNorm / (total + 1e-6), max=1).
napi_value clip_grad_norm(napi_env env, napi_callback_info info) {
  LT_ARGS(4);
  LT_TRY
  std::vector<at::Tensor> params = arg_tensor_list(env, argv[0]);
  double max_norm = arg_double(env, argv[1]);
  double norm_type = arg_double(env, argv[2]);
  bool error_if_nonfinite = !is_nullish(env, argv[3]) && arg_bool(env, argv[3]);
  TORCH_CHECK_VALUE(!std::isnan(max_norm), "clipGradNorm_: maxNorm is NaN");
  TORCH_CHECK_VALUE(!std::isnan(norm_type), "clipGradNorm_: normType is NaN");
  c10::NoGradGuard no_grad;
  std::vector<at::Tensor> grads;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return make_double(env, 0.0);

  // Group by device (map keeps a stable order), as PyTorch does.
  std::map<std::string, std::vector<at::Tensor>> by_device;
  for (const auto& g : grads) by_device[g.device().str()].push_back(g);
  const at::Device first_device = grads.front().device();
  std::vector<at::Tensor> norms;
  for (auto& [device, group] : by_device) {
    if (group.front().is_cuda()) {
      for (auto& n : at::_foreach_norm(group, norm_type)) norms.push_back(n.to(first_device));
    } else {
      for (const auto& g : group) norms.push_back(at::linalg_vector_norm(g, norm_type).to(first_device));
    }
  }
  at::Tensor total = at::linalg_vector_norm(at::stack(norms), norm_type);
  double total_value = total.item<double>();
  if (error_if_nonfinite && !std::isfinite(total_value)) {
    std::ostringstream msg;
    msg << "The total norm of order " << norm_type << " for gradients from `parameters` is non-finite, so it cannot "
        << "be clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
        << "`errorIfNonfinite: false`";
    TORCH_CHECK(false, msg.str());
  }
  at::Tensor coef = at::clamp(max_norm / (total + 1e-6), std::nullopt, 1.0);
  for (auto& [device, group] : by_device) {
    at::Tensor c = coef.to(group.front().device());
    if (group.front().is_cuda()) at::_foreach_mul_(group, c);
    else
      for (auto& g : group) g.mul_(c);
  }
  return make_double(env, total_value);
  LT_CATCH("torch.nn.utils.clipGradNorm_", argv, argc, 1)
}

// ---- generator state ----

at::Generator default_generator(napi_env env, napi_value device_arg) {
  c10::Device device = is_nullish(env, device_arg) ? c10::Device(c10::kCPU) : arg_device(env, device_arg);
  if (device.is_cuda() && !device.has_index()) device.set_index(0);
  return at::globalContext().defaultGenerator(device);
}

// rngGetState(device?) -> uint8 tensor: the default generator's state, as torch.get_rng_state().
napi_value rng_get_state(napi_env env, napi_callback_info info) {
  LT_ARGS(1);
  LT_TRY
  at::Generator gen = default_generator(env, argv[0]);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return make_tensor(env, gen.get_state());
  LT_CATCH_PLAIN("torch.getRngState")
}

// rngSetState(stateTensor, device?), as torch.set_rng_state().
napi_value rng_set_state(napi_env env, napi_callback_info info) {
  LT_ARGS(2);
  LT_TRY
  const at::Tensor& state = arg_tensor(env, argv[0]);
  TORCH_CHECK_TYPE(state.scalar_type() == at::kByte, "setRngState: the state must be a uint8 tensor, got ",
                   state.scalar_type());
  at::Generator gen = default_generator(env, argv[1]);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state.contiguous().cpu());
  return make_undefined(env);
  LT_CATCH("torch.setRngState", argv, argc, 1)
}

}  // namespace

void register_optim(napi_env env, napi_value exports) {
  register_exports(env, exports,
                   {{"optimCreate", optim_create},
                    {"optimStep", optim_step},
                    {"optimZeroGrad", optim_zero_grad},
                    {"optimGroups", optim_groups},
                    {"optimSetGroup", optim_set_group},
                    {"optimGetState", optim_get_state},
                    {"optimSetState", optim_set_state},
                    {"optimDispose", optim_dispose},
                    {"clipGradNorm", clip_grad_norm},
                    {"rngGetState", rng_get_state},
                    {"rngSetState", rng_set_state}});
}

}  // namespace lt
