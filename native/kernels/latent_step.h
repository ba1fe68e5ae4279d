// The fused latent-step kernels: argument blocks shared by the CPU kernels (latent_step.cc) and the
// CUDA launchers (latent_step.cu).
//
// This header is plain C (no torch, no CUDA headers) so that nvcc compiles the .cu file in C++17
// while the rest of the addon uses whatever C++ standard libtorch's headers need; the .cc side
// passes raw pointers, sizes and the current stream.
//
// The op, per row b of h [B, D]:
//   r_b      = rsqrt(mean_j h_bj^2 + eps)                   (saved for backward, accumulation dtype)
//   n_bj     = h_bj * r_b * norm_weight_j
//   embed_bj = scale * n_bj * gain_j + bias_j
//   stop_b   = sum_j n_bj * stop_weight_j + stop_bias
// Accumulation is in float32 for float32/float16/bfloat16 and in float64 for float64.
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum lt_latent_dtype {
  LT_LATENT_FLOAT32 = 0,
  LT_LATENT_FLOAT64 = 1,
  LT_LATENT_FLOAT16 = 2,
  LT_LATENT_BFLOAT16 = 3,
};

// All tensors are in the element type `dtype` except `rstd` (float64 for LT_LATENT_FLOAT64, float32
// otherwise). Rows of h may be strided (h_row_stride elements apart, e.g. the last position of a
// [B, T, D] hidden state); within a row, and in every other tensor, elements are contiguous.
struct lt_latent_step_forward_args {
  int dtype;
  int64_t rows;
  int64_t dim;
  int64_t h_row_stride;
  const void* h;
  const void* norm_weight;
  const void* gain;
  const void* bias;
  const void* stop_weight;
  const void* stop_bias;  // one element
  double scale;
  double eps;
  void* embed;       // [rows, dim], contiguous
  void* stop_logit;  // [rows]
  void* rstd;        // [rows]
};

// Gradient inputs may be absent (NULL: that output received no gradient, treated as zeros); gradient
// outputs may be NULL when not wanted. The parameter gradients are sums over rows.
struct lt_latent_step_backward_args {
  int dtype;
  int64_t rows;
  int64_t dim;
  int64_t h_row_stride;
  int64_t grad_embed_row_stride;
  const void* h;
  const void* norm_weight;
  const void* gain;
  const void* stop_weight;
  const void* rstd;
  const void* grad_embed;  // [rows, dim] with grad_embed_row_stride, or NULL
  const void* grad_stop;   // [rows], or NULL
  double scale;
  void* grad_h;            // [rows, dim], contiguous
  void* grad_norm_weight;  // [dim]
  void* grad_gain;         // [dim]
  void* grad_bias;         // [dim]
  void* grad_stop_weight;  // [dim]
  void* grad_stop_bias;    // one element
};

// CUDA launchers (latent_step.cu): enqueue the kernels on `stream` (a cudaStream_t) of the current
// device and return NULL, or a static description of the launch error.
const char* lt_latent_step_forward_cuda(const struct lt_latent_step_forward_args* args, void* stream);
const char* lt_latent_step_backward_cuda(const struct lt_latent_step_backward_args* args, void* stream);

#ifdef __cplusplus
}  // extern "C"
#endif
