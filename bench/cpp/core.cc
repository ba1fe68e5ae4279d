// The C++ floor of bench/core.ts: the same operators called on ATen directly, in the same loops.
// Per-call cases run batches of kBatch calls, each result freed before the next call; mid-size cases
// time one call per iteration.
#include "harness.h"

namespace {

constexpr int64_t kBatch = 1000;  // as in bench/core.ts and bench/python/core.py

at::Tensor randn(at::IntArrayRef shape) {
  return at::randn(shape, at::kFloat);
}

std::map<std::string, bench::Case> core_cases() {
  using bench::batched;
  std::map<std::string, bench::Case> cases;
  cases["add"] = {"at::add(a, b)", kBatch, [] {
                    at::manual_seed(0);
                    at::Tensor a = randn({4}), b = randn({4});
                    return batched(kBatch, [a, b] { return at::add(a, b); });
                  }};
  cases["add_method"] = {"a.add(b)", kBatch, [] {
                           at::manual_seed(0);
                           at::Tensor a = randn({4}), b = randn({4});
                           return batched(kBatch, [a, b] { return a.add(b); });
                         }};
  cases["mul"] = {"at::mul(a, b)", kBatch, [] {
                    at::manual_seed(0);
                    at::Tensor a = randn({4}), b = randn({4});
                    return batched(kBatch, [a, b] { return at::mul(a, b); });
                  }};
  cases["matmul_8x8"] = {"at::matmul(a, b)", kBatch, [] {
                           at::manual_seed(0);
                           at::Tensor a = randn({8, 8}), b = randn({8, 8});
                           return batched(kBatch, [a, b] { return at::matmul(a, b); });
                         }};
  cases["view"] = {"x.view({64})", kBatch, [] {
                     at::manual_seed(0);
                     at::Tensor x = randn({8, 8});
                     return batched(kBatch, [x] { return x.view({64}); });
                   }};
  cases["select"] = {"x.select(0, 3)", kBatch, [] {
                       at::manual_seed(0);
                       at::Tensor x = randn({8, 8});
                       return batched(kBatch, [x] { return x.select(0, 3); });
                     }};
  cases["index_select"] = {"at::index_select(x, 0, index)", kBatch, [] {
                             at::manual_seed(0);
                             at::Tensor x = randn({8, 8});
                             at::Tensor index = at::tensor({1, 3, 6}, at::kLong);
                             return batched(kBatch, [x, index] { return at::index_select(x, 0, index); });
                           }};
  cases["matmul_512"] = {"at::matmul(a, b)", 1, [] {
                           at::manual_seed(0);
                           at::Tensor a = randn({512, 512}), b = randn({512, 512});
                           return batched(1, [a, b] { return at::matmul(a, b); });
                         }};
  cases["softmax_64x4096"] = {"at::softmax(x, -1)", 1, [] {
                                at::manual_seed(0);
                                at::Tensor x = randn({64, 4096});
                                return batched(1, [x] { return at::softmax(x, -1); });
                              }};
  return cases;
}

}  // namespace

int main(int argc, char** argv) {
  return bench::run(argc, argv, core_cases());
}
