// torch.latentStep: the fused "hidden state -> next latent input embedding + stop logit" step.
//
//   n        = h * rsqrt(mean(h^2, -1) + eps) * normWeight          (the model's final RMSNorm)
//   embed    = scale * n * gain + bias                              [B, D]
//   stopLogit = n . stopWeight + stopBias                           [B]
//
// Composed from primitive operators this is about a dozen kernels and as many autograd nodes per
// latent token; fused it is one pass over each row forward and two passes backward (rows for dh,
// columns for the parameter gradients). Autograd goes through a C++ custom Function (the pattern is
// described in native/AUTOGRAD.md) that saves only h and the per-row rsqrt and recomputes n.
// CUDA tensors go to the launchers of latent_step.cu.
#include "../common.h"
#include "latent_step.h"

#include <ATen/Parallel.h>
#include <ATen/TensorOperators.h>
#include <ATen/ops/empty.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#ifdef LT_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include <algorithm>
#include <array>
#include <cmath>

namespace lt {
namespace {

// ---------------------------------------------------------------------------------------------
// CPU kernels
// ---------------------------------------------------------------------------------------------

template <typename scalar_t>
struct AccumulateType {
  using type = float;  // float32, float16, bfloat16
};
template <>
struct AccumulateType<double> {
  using type = double;
};

// Partial sums kept in independent lanes: a single running sum would serialise the additions (float
// addition is not associative, so the compiler may not reorder it), whereas independent lanes are
// vectorised at -O3 on any target.
constexpr int64_t kLanes = 16;

template <typename acc_t, typename Term>
inline acc_t lane_sum(int64_t n, Term&& term) {
  acc_t lanes[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int64_t k = 0; k < kLanes; ++k) lanes[k] += term(j + k);
  acc_t total = 0;
  for (; j < n; ++j) total += term(j);
  for (int64_t width = kLanes / 2; width > 0; width /= 2)
    for (int64_t k = 0; k < width; ++k) lanes[k] += lanes[k + width];
  return total + lanes[0];
}

// Work below this many elements per task is not worth a thread hand-off.
constexpr int64_t kElementsPerTask = 16384;

template <typename scalar_t>
void forward_cpu(const lt_latent_step_forward_args& a) {
  using acc_t = typename AccumulateType<scalar_t>::type;
  const int64_t dim = a.dim;
  const auto* h = static_cast<const scalar_t*>(a.h);
  const auto* w = static_cast<const scalar_t*>(a.norm_weight);
  const auto* g = static_cast<const scalar_t*>(a.gain);
  const auto* bias = static_cast<const scalar_t*>(a.bias);
  const auto* sw = static_cast<const scalar_t*>(a.stop_weight);
  const acc_t stop_bias = static_cast<acc_t>(*static_cast<const scalar_t*>(a.stop_bias));
  const acc_t scale = static_cast<acc_t>(a.scale);
  const acc_t eps = static_cast<acc_t>(a.eps);
  auto* embed = static_cast<scalar_t*>(a.embed);
  auto* stop = static_cast<scalar_t*>(a.stop_logit);
  auto* rstd = static_cast<acc_t*>(a.rstd);
  const int64_t grain = std::max<int64_t>(1, kElementsPerTask / dim);
  at::parallel_for(0, a.rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const scalar_t* x = h + b * a.h_row_stride;
      scalar_t* e = embed + b * dim;
      const acc_t sum_sq = lane_sum<acc_t>(dim, [&](int64_t j) {
        const acc_t v = static_cast<acc_t>(x[j]);
        return v * v;
      });
      const acc_t r = acc_t(1) / std::sqrt(sum_sq / static_cast<acc_t>(dim) + eps);
      const acc_t dot = lane_sum<acc_t>(dim, [&](int64_t j) {
        const acc_t n = static_cast<acc_t>(x[j]) * r * static_cast<acc_t>(w[j]);
        e[j] = static_cast<scalar_t>(scale * n * static_cast<acc_t>(g[j]) + static_cast<acc_t>(bias[j]));
        return n * static_cast<acc_t>(sw[j]);
      });
      stop[b] = static_cast<scalar_t>(dot + stop_bias);
      rstd[b] = r;
    }
  });
}

// Columns of the parameter gradients handled together by one task: their accumulators live on the
// stack while the task walks down the rows.
constexpr int64_t kColumnBlock = 256;

template <typename scalar_t>
void backward_cpu(const lt_latent_step_backward_args& a) {
  using acc_t = typename AccumulateType<scalar_t>::type;
  const int64_t dim = a.dim;
  const int64_t rows = a.rows;
  const auto* h = static_cast<const scalar_t*>(a.h);
  const auto* w = static_cast<const scalar_t*>(a.norm_weight);
  const auto* g = static_cast<const scalar_t*>(a.gain);
  const auto* sw = static_cast<const scalar_t*>(a.stop_weight);
  const auto* rstd = static_cast<const acc_t*>(a.rstd);
  const auto* ge = static_cast<const scalar_t*>(a.grad_embed);
  const auto* gs = static_cast<const scalar_t*>(a.grad_stop);
  const acc_t scale = static_cast<acc_t>(a.scale);

  if (a.grad_h) {
    // dL/dn_j = scale*gain_j*ge_j + gs*stopWeight_j; with u = h*r (so n = u*w) and gu = dL/dn * w:
    // dL/dh = r * (gu - u * mean(gu*u)).
    auto* gh = static_cast<scalar_t*>(a.grad_h);
    const int64_t grain = std::max<int64_t>(1, kElementsPerTask / dim);
    at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        const scalar_t* x = h + b * a.h_row_stride;
        const scalar_t* ge_row = ge + b * a.grad_embed_row_stride;
        const acc_t r = rstd[b];
        const acc_t gs_b = static_cast<acc_t>(gs[b]);
        auto grad_u = [&](int64_t j) {
          return (scale * static_cast<acc_t>(g[j]) * static_cast<acc_t>(ge_row[j]) + gs_b * static_cast<acc_t>(sw[j])) *
                 static_cast<acc_t>(w[j]);
        };
        const acc_t mean_gu_u =
            lane_sum<acc_t>(dim, [&](int64_t j) { return grad_u(j) * static_cast<acc_t>(x[j]); }) * r / static_cast<acc_t>(dim);
        scalar_t* out = gh + b * dim;
        for (int64_t j = 0; j < dim; ++j) out[j] = static_cast<scalar_t>(r * (grad_u(j) - static_cast<acc_t>(x[j]) * r * mean_gu_u));
      }
    });
  }

  if (a.grad_norm_weight || a.grad_gain || a.grad_bias || a.grad_stop_weight) {
    auto* gw_out = static_cast<scalar_t*>(a.grad_norm_weight);
    auto* gg_out = static_cast<scalar_t*>(a.grad_gain);
    auto* gb_out = static_cast<scalar_t*>(a.grad_bias);
    auto* gsw_out = static_cast<scalar_t*>(a.grad_stop_weight);
    const int64_t grain = std::max<int64_t>(kColumnBlock, kElementsPerTask / std::max<int64_t>(rows, 1));
    at::parallel_for(0, dim, grain, [&](int64_t begin, int64_t end) {
      acc_t gw[kColumnBlock], gg[kColumnBlock], gb[kColumnBlock], gsw[kColumnBlock];
      for (int64_t c0 = begin; c0 < end; c0 += kColumnBlock) {
        const int64_t width = std::min(kColumnBlock, end - c0);
        std::fill_n(gw, width, acc_t(0));
        std::fill_n(gg, width, acc_t(0));
        std::fill_n(gb, width, acc_t(0));
        std::fill_n(gsw, width, acc_t(0));
        for (int64_t b = 0; b < rows; ++b) {
          const scalar_t* x = h + b * a.h_row_stride + c0;
          const scalar_t* ge_row = ge + b * a.grad_embed_row_stride + c0;
          const acc_t r = rstd[b];
          const acc_t gs_b = static_cast<acc_t>(gs[b]);
          for (int64_t k = 0; k < width; ++k) {
            const int64_t j = c0 + k;
            const acc_t u = static_cast<acc_t>(x[k]) * r;
            const acc_t n = u * static_cast<acc_t>(w[j]);
            const acc_t e = static_cast<acc_t>(ge_row[k]);
            gw[k] += (scale * static_cast<acc_t>(g[j]) * e + gs_b * static_cast<acc_t>(sw[j])) * u;
            gg[k] += scale * n * e;
            gb[k] += e;
            gsw[k] += gs_b * n;
          }
        }
        for (int64_t k = 0; k < width; ++k) {
          if (gw_out) gw_out[c0 + k] = static_cast<scalar_t>(gw[k]);
          if (gg_out) gg_out[c0 + k] = static_cast<scalar_t>(gg[k]);
          if (gb_out) gb_out[c0 + k] = static_cast<scalar_t>(gb[k]);
          if (gsw_out) gsw_out[c0 + k] = static_cast<scalar_t>(gsw[k]);
        }
      }
    });
  }

  if (a.grad_stop_bias) {
    const acc_t total = lane_sum<acc_t>(rows, [&](int64_t b) { return static_cast<acc_t>(gs[b]); });
    *static_cast<scalar_t*>(a.grad_stop_bias) = static_cast<scalar_t>(total);
  }
}

// ---------------------------------------------------------------------------------------------
// Dispatch by dtype and device
// ---------------------------------------------------------------------------------------------

int kernel_dtype(c10::ScalarType t) {
  switch (t) {
    case c10::ScalarType::Float: return LT_LATENT_FLOAT32;
    case c10::ScalarType::Double: return LT_LATENT_FLOAT64;
    case c10::ScalarType::Half: return LT_LATENT_FLOAT16;
    case c10::ScalarType::BFloat16: return LT_LATENT_BFLOAT16;
    default:
      TORCH_CHECK_TYPE(false, "latentStep supports float32, float64, float16 and bfloat16 tensors, got ", dtype_name(t));
  }
  return -1;  // not reached
}

c10::ScalarType accumulate_dtype(c10::ScalarType t) {
  return t == c10::ScalarType::Double ? c10::ScalarType::Double : c10::ScalarType::Float;
}

template <typename Args>
void run_cpu(void (*f32)(const Args&), void (*f64)(const Args&), void (*f16)(const Args&), void (*bf16)(const Args&),
             const Args& args) {
  switch (args.dtype) {
    case LT_LATENT_FLOAT32: return f32(args);
    case LT_LATENT_FLOAT64: return f64(args);
    case LT_LATENT_FLOAT16: return f16(args);
    case LT_LATENT_BFLOAT16: return bf16(args);
  }
  TORCH_INTERNAL_ASSERT(false, "latentStep: unknown kernel dtype ", args.dtype);
}

#ifdef LT_WITH_CUDA
template <typename Args>
void run_cuda(const char* (*launcher)(const Args*, void*), const Args& args, const at::Tensor& like) {
  c10::cuda::CUDAGuard guard(like.device());
  const char* error = launcher(&args, c10::cuda::getCurrentCUDAStream(like.device().index()).stream());
  TORCH_CHECK(error == nullptr, "latentStep: CUDA kernel launch failed: ", error);
}
#endif

void check_kernels_for(const at::Tensor& like) {
#ifndef LT_WITH_CUDA
  TORCH_CHECK(!like.is_cuda(), "latentStep: this build of latent-tokens has no CUDA kernels (", describe_tensor(like),
              "); rebuild the addon against a CUDA libtorch with nvcc available");
#endif
}

void run_forward(const lt_latent_step_forward_args& args, const at::Tensor& like) {
  check_kernels_for(like);
#ifdef LT_WITH_CUDA
  if (like.is_cuda()) return run_cuda(&lt_latent_step_forward_cuda, args, like);
#endif
  run_cpu(&forward_cpu<float>, &forward_cpu<double>, &forward_cpu<c10::Half>, &forward_cpu<c10::BFloat16>, args);
}

void run_backward(const lt_latent_step_backward_args& args, const at::Tensor& like) {
  check_kernels_for(like);
#ifdef LT_WITH_CUDA
  if (like.is_cuda()) return run_cuda(&lt_latent_step_backward_cuda, args, like);
#endif
  run_cpu(&backward_cpu<float>, &backward_cpu<double>, &backward_cpu<c10::Half>, &backward_cpu<c10::BFloat16>, args);
}

// ---------------------------------------------------------------------------------------------
// Argument checks and the op without autograd
// ---------------------------------------------------------------------------------------------

// h with contiguous rows (a row stride other than D is fine: h may be the last position of [B, T, D]).
at::Tensor with_contiguous_rows(const at::Tensor& t) {
  return t.size(1) <= 1 || t.stride(1) == 1 ? t : t.contiguous();
}

void check_inputs(const at::Tensor& h, const at::Tensor& norm_weight, const at::Tensor& gain, const at::Tensor& bias,
                  const at::Tensor& stop_weight, const at::Tensor& stop_bias, double scale, double eps) {
  TORCH_CHECK_VALUE(h.dim() == 2, "latentStep: h must be [B, D] (the hidden states of the last position), got shape ",
                    h.sizes());
  const int64_t dim = h.size(1);
  TORCH_CHECK_VALUE(dim > 0, "latentStep: h has no features (shape ", h.sizes(), ")");
  const std::pair<const char*, const at::Tensor*> vectors[] = {
      {"normWeight", &norm_weight}, {"gain", &gain}, {"bias", &bias}, {"stopWeight", &stop_weight}};
  for (const auto& [name, t] : vectors)
    TORCH_CHECK_VALUE(t->dim() == 1 && t->size(0) == dim, "latentStep: ", name, " must have shape [", dim,
                      "] to match h ", h.sizes(), ", got ", t->sizes());
  TORCH_CHECK_VALUE(stop_bias.numel() == 1 && stop_bias.dim() <= 1,
                    "latentStep: stopBias must be a scalar tensor (shape [] or [1]), got shape ", stop_bias.sizes());
  kernel_dtype(h.scalar_type());
  const std::pair<const char*, const at::Tensor*> all[] = {{"normWeight", &norm_weight}, {"gain", &gain},
                                                           {"bias", &bias},             {"stopWeight", &stop_weight},
                                                           {"stopBias", &stop_bias}};
  for (const auto& [name, t] : all) {
    TORCH_CHECK_TYPE(t->scalar_type() == h.scalar_type(), "latentStep: ", name, " has dtype ", dtype_name(t->scalar_type()),
                     " but h has ", dtype_name(h.scalar_type()), "; convert the parameters to one dtype");
    TORCH_CHECK(t->device() == h.device(), "latentStep: expected all tensors on one device, but h is on ", h.device(),
                " and ", name, " on ", t->device());
  }
  TORCH_CHECK(h.device().is_cpu() || h.is_cuda(), "latentStep: unsupported device ", h.device());
  TORCH_CHECK_VALUE(std::isfinite(scale), "latentStep: scale must be a finite number, got ", scale);
  TORCH_CHECK_VALUE(std::isfinite(eps) && eps >= 0, "latentStep: eps must be a finite number >= 0, got ", eps);
}

// The fields that the forward and the backward argument blocks share: h's rows, normWeight and gain.
template <typename Args>
void set_normalized_rows(Args& args, const at::Tensor& h, const at::Tensor& norm_weight, const at::Tensor& gain) {
  args.dtype = kernel_dtype(h.scalar_type());
  args.rows = h.size(0);
  args.dim = h.size(1);
  args.h_row_stride = h.stride(0);
  args.h = h.const_data_ptr();
  args.norm_weight = norm_weight.const_data_ptr();
  args.gain = gain.const_data_ptr();
}

struct ForwardResult {
  at::Tensor embed, stop_logit, rstd;
};

// Inputs already checked; h has contiguous rows, the vectors are contiguous.
ForwardResult latent_step_forward(const at::Tensor& h, const at::Tensor& norm_weight, const at::Tensor& gain,
                                  const at::Tensor& bias, const at::Tensor& stop_weight, const at::Tensor& stop_bias,
                                  double scale, double eps) {
  const int64_t rows = h.size(0), dim = h.size(1);
  ForwardResult out{at::empty({rows, dim}, h.options()), at::empty({rows}, h.options()),
                    at::empty({rows}, h.options().dtype(accumulate_dtype(h.scalar_type())))};
  if (rows == 0) return out;
  lt_latent_step_forward_args args{};
  set_normalized_rows(args, h, norm_weight, gain);
  args.bias = bias.const_data_ptr();
  args.stop_weight = stop_weight.const_data_ptr();
  args.stop_bias = stop_bias.const_data_ptr();
  args.scale = scale;
  args.eps = eps;
  args.embed = out.embed.mutable_data_ptr();
  args.stop_logit = out.stop_logit.mutable_data_ptr();
  args.rstd = out.rstd.mutable_data_ptr();
  run_forward(args, h);
  return out;
}

// The gradients in the order of the op's tensor inputs; undefined where `wanted` says no.
struct Gradients {
  at::Tensor h, norm_weight, gain, bias, stop_weight, stop_bias;
};

Gradients latent_step_backward(const at::Tensor& h, const at::Tensor& norm_weight, const at::Tensor& gain,
                               const at::Tensor& stop_weight, const at::Tensor& rstd, const at::Tensor& grad_embed_in,
                               const at::Tensor& grad_stop_in, double scale, c10::IntArrayRef stop_bias_shape,
                               const std::array<bool, 6>& wanted) {
  const int64_t rows = h.size(0), dim = h.size(1);
  const at::Tensor grad_embed = with_contiguous_rows(grad_embed_in);  // sum()'s gradient arrives expanded (stride 0)
  const at::Tensor grad_stop = grad_stop_in.contiguous();
  auto vector = [&](bool want) { return want ? at::empty({dim}, h.options()) : at::Tensor(); };
  Gradients out{wanted[0] ? at::empty({rows, dim}, h.options()) : at::Tensor(),
                vector(wanted[1]),
                vector(wanted[2]),
                vector(wanted[3]),
                vector(wanted[4]),
                wanted[5] ? at::empty(stop_bias_shape, h.options()) : at::Tensor()};
  auto ptr = [](const at::Tensor& t) { return t.defined() ? t.mutable_data_ptr() : nullptr; };
  lt_latent_step_backward_args args{};
  set_normalized_rows(args, h, norm_weight, gain);
  args.grad_embed_row_stride = grad_embed.stride(0);
  args.stop_weight = stop_weight.const_data_ptr();
  args.rstd = rstd.const_data_ptr();
  args.grad_embed = grad_embed.const_data_ptr();
  args.grad_stop = grad_stop.const_data_ptr();
  args.scale = scale;
  args.grad_h = rows > 0 ? ptr(out.h) : nullptr;
  args.grad_norm_weight = ptr(out.norm_weight);
  args.grad_gain = ptr(out.gain);
  args.grad_bias = ptr(out.bias);
  args.grad_stop_weight = ptr(out.stop_weight);
  args.grad_stop_bias = ptr(out.stop_bias);
  run_backward(args, h);
  return out;
}

// Gradients through the composition of differentiable operators, for createGraph: the result has a
// graph, so gradients of gradients are right. Bias and stopBias enter additively, so their gradients
// are the (differentiable) sums of the incoming gradients and the composition can leave them out.
Gradients composed_backward(const at::Tensor& h, const at::Tensor& norm_weight, const at::Tensor& gain,
                            const at::Tensor& stop_weight, const at::Tensor& grad_embed, const at::Tensor& grad_stop,
                            double scale, double eps, c10::IntArrayRef stop_bias_shape, const std::array<bool, 6>& wanted) {
  const at::Tensor n = h * (h.square().mean({-1}, true).add(eps).rsqrt()) * norm_weight;
  const at::Tensor embed_part = n * gain * scale;
  const at::Tensor stop_part = (n * stop_weight).sum({-1});
  std::vector<at::Tensor> inputs;
  const at::Tensor* candidates[] = {&h, &norm_weight, &gain, &stop_weight};
  const int slots[] = {0, 1, 2, 4};
  std::vector<int> slot_of_input;
  for (int i = 0; i < 4; ++i)
    if (wanted[slots[i]] && candidates[i]->requires_grad()) {
      inputs.push_back(*candidates[i]);
      slot_of_input.push_back(slots[i]);
    }
  std::array<at::Tensor, 6> grads;
  if (!inputs.empty()) {
    auto result = torch::autograd::grad({embed_part, stop_part}, inputs, {grad_embed, grad_stop},
                                        /*retain_graph=*/true, /*create_graph=*/true, /*allow_unused=*/true);
    for (size_t i = 0; i < result.size(); ++i) grads[slot_of_input[i]] = result[i];
  }
  if (wanted[3]) grads[3] = grad_embed.sum({0});
  if (wanted[5]) grads[5] = grad_stop.sum().reshape(stop_bias_shape);
  return {grads[0], grads[1], grads[2], grads[3], grads[4], grads[5]};
}

// ---------------------------------------------------------------------------------------------
// Autograd
// ---------------------------------------------------------------------------------------------

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

}  // namespace

// Outside the anonymous namespace: autograd names the node after this type ("lt::LatentStep").
struct LatentStep : torch::autograd::Function<LatentStep> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& h, const at::Tensor& norm_weight,
                               const at::Tensor& gain, const at::Tensor& bias, const at::Tensor& stop_weight,
                               const at::Tensor& stop_bias, double scale, double eps) {
    ForwardResult r = latent_step_forward(h, norm_weight, gain, bias, stop_weight, stop_bias, scale, eps);
    ctx->save_for_backward({h, norm_weight, gain, stop_weight, r.rstd});
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["eps"] = eps;
    ctx->saved_data["stop_bias_shape"] = stop_bias.sizes();
    return {r.embed, r.stop_logit};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const variable_list saved = ctx->get_saved_variables();
    const double scale = ctx->saved_data["scale"].toDouble();
    const std::vector<int64_t> stop_bias_shape = ctx->saved_data["stop_bias_shape"].toIntVector();
    std::array<bool, 6> wanted{};
    for (size_t i = 0; i < wanted.size(); ++i) wanted[i] = ctx->needs_input_grad(i);
    // Grad mode is on in backward exactly when the caller asked for createGraph.
    Gradients g = c10::GradMode::is_enabled()
                      ? composed_backward(saved[0], saved[1], saved[2], saved[3], grad_outputs[0], grad_outputs[1],
                                          scale, ctx->saved_data["eps"].toDouble(), stop_bias_shape, wanted)
                      : latent_step_backward(saved[0], saved[1], saved[2], saved[3], saved[4], grad_outputs[0],
                                             grad_outputs[1], scale, stop_bias_shape, wanted);
    // One entry per forward argument: the two doubles (scale, eps) get none.
    return {g.h, g.norm_weight, g.gain, g.bias, g.stop_weight, g.stop_bias, at::Tensor(), at::Tensor()};
  }
};

namespace {

// latentStep(h, normWeight, gain, bias, scale, stopWeight, stopBias, eps) -> [embed, stopLogit]
napi_value latent_step(napi_env env, napi_callback_info info) {
  LT_ARGS(8);
  LT_TRY
  const at::Tensor& h_in = arg_tensor(env, argv[0]);
  const at::Tensor& norm_weight_in = arg_tensor(env, argv[1]);
  const at::Tensor& gain_in = arg_tensor(env, argv[2]);
  const at::Tensor& bias_in = arg_tensor(env, argv[3]);
  const double scale = arg_double(env, argv[4]);
  const at::Tensor& stop_weight_in = arg_tensor(env, argv[5]);
  const at::Tensor& stop_bias_in = arg_tensor(env, argv[6]);
  const double eps = is_nullish(env, argv[7]) ? 1e-6 : arg_double(env, argv[7]);
  check_inputs(h_in, norm_weight_in, gain_in, bias_in, stop_weight_in, stop_bias_in, scale, eps);
  const at::Tensor h = with_contiguous_rows(h_in);
  const at::Tensor norm_weight = norm_weight_in.contiguous(), gain = gain_in.contiguous(), bias = bias_in.contiguous(),
                   stop_weight = stop_weight_in.contiguous(), stop_bias = stop_bias_in.contiguous();
  const bool needs_graph = c10::GradMode::is_enabled() &&
                           (h.requires_grad() || norm_weight.requires_grad() || gain.requires_grad() ||
                            bias.requires_grad() || stop_weight.requires_grad() || stop_bias.requires_grad());
  at::Tensor embed, stop_logit;
  if (needs_graph) {
    variable_list out = LatentStep::apply(h, norm_weight, gain, bias, stop_weight, stop_bias, scale, eps);
    embed = std::move(out[0]), stop_logit = std::move(out[1]);
  } else {
    ForwardResult r = latent_step_forward(h, norm_weight, gain, bias, stop_weight, stop_bias, scale, eps);
    embed = std::move(r.embed), stop_logit = std::move(r.stop_logit);
  }
  napi_value result;
  napi_create_array_with_length(env, 2, &result);
  napi_set_element(env, result, 0, make_tensor(env, std::move(embed)));
  napi_set_element(env, result, 1, make_tensor(env, std::move(stop_logit)));
  return result;
  LT_CATCH("torch.latentStep", argv, argc, 0b1101111)
}

}  // namespace

void register_latent_step(napi_env env, napi_value exports) {
  register_exports(env, exports, {{"latentStep", latent_step}});
}

}  // namespace lt
