// Preconditions for the ATen kernels that trust their inputs. Some CPU kernels index weights, statistics,
// counts or gradients by values taken from another argument without checking them (PyTorch's Python
// API reaches the same out-of-bounds reads): called with a short weight or an out-of-range index they
// read or write past the end of a buffer, crash the process or silently compute garbage.
//
// The checks are registered with libtorch's dispatcher, not in this addon's call paths, so they hold
// however an operator is reached: the typed functions (generated fast entry points and boxed calls
// alike), torch.ops(name), and calls that one ATen operator makes to another (autograd's backward
// kernels included). Most sit at the BackendSelect key, which every call passes after autograd and
// before the backend kernel: a boxed kernel there checks the arguments and redispatches. Composite
// operators never reach BackendSelect; theirs replace the composite kernel and call the ATen
// implementation directly, or refuse the operator outright where its input cannot be validated
// (the quantized RNN cells read fbgemm-packed weights out of any tensor).
#include "common.h"

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <ATen/ops/choose_qparams_optimized_native.h>
#include <torch/library.h>

#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <unordered_map>

namespace lt {
namespace {

// The arguments of one call, looked up by their schema names.
class Args {
 public:
  Args(const c10::OperatorHandle& op, torch::jit::Stack* stack)
      : schema_(op.schema()), stack_(*stack), base_(stack->size() - schema_.arguments().size()) {}

  const std::string& op() const { return schema_.name(); }
  bool has(const char* name) const { return index(name) >= 0; }
  const c10::IValue& operator[](const char* name) const {
    int i = index(name);
    TORCH_INTERNAL_ASSERT(i >= 0, op(), " has no argument ", name);
    return stack_[base_ + i];
  }
  // An undefined tensor for None or an absent argument.
  at::Tensor tensor(const char* name) const {
    int i = index(name);
    if (i < 0) return {};
    const auto& v = stack_[base_ + i];
    return v.isTensor() ? v.toTensor() : at::Tensor();
  }
  bool is_output(const char* name) const {
    int i = index(name);
    return i >= 0 && schema_.arguments()[i].is_out();
  }
  int64_t integer(const char* name) const { return (*this)[name].toInt(); }
  bool boolean(const char* name) const { return (*this)[name].toBool(); }

 private:
  int index(const char* name) const {
    const auto& args = schema_.arguments();
    for (size_t i = 0; i < args.size(); ++i)
      if (args[i].name() == name) return static_cast<int>(i);
    return -1;
  }
  const c10::FunctionSchema& schema_;
  torch::jit::Stack& stack_;
  size_t base_;
};

// Every value of an integer tensor in [lo, hi).
void check_range(const std::string& op, const char* what, const at::Tensor& t, int64_t lo, int64_t hi) {
  TORCH_CHECK_TYPE(c10::isIntegralType(t.scalar_type(), /*includeBool=*/false), op, ": ", what,
                   " must be an integer tensor, got ", t.scalar_type());
  if (t.numel() == 0) return;
  auto [mn, mx] = at::aminmax(t);
  int64_t a = mn.item<int64_t>(), b = mx.item<int64_t>();
  TORCH_CHECK_INDEX(a >= lo && b < hi, op, ": ", what, " must lie in [", lo, ", ", hi, "), got values from ", a, " to ", b);
}

void check_same_shape(const std::string& op, const char* a_name, const at::Tensor& a, const char* b_name, const at::Tensor& b) {
  TORCH_CHECK_VALUE(a.sizes() == b.sizes(), op, ": ", a_name, " of shape ", a.sizes(), " must have the shape of ", b_name, ", ", b.sizes());
}

// ---- batch norm: per-channel weights and statistics must have one entry per channel of input ----

const char* const kPerChannel[] = {"weight", "bias", "running_mean", "running_var", "save_mean", "save_invstd", "save_var", "mean", "invstd"};

void check_batch_norm(const Args& a) {
  const std::string& op = a.op();
  at::Tensor input = a.tensor("input");
  TORCH_CHECK_VALUE(input.defined() && input.dim() >= 2, op, ": input must have at least 2 dimensions (N, C, ...), got ",
                    input.defined() ? input.sizes() : c10::IntArrayRef{});
  const int64_t channels = input.size(1);
  const bool backward = a.has("output_mask");
  // Training mode normalises with the batch's statistics (forward: computed, and written into the running
  // ones; backward: the saved ones); evaluation mode with the running statistics. Only what the mode
  // reads or writes is checked: PyTorch passes empty placeholders for the rest.
  const char* mode = a.has("training") ? "training" : a.has("train") ? "train" : a.has("update") ? "update" : nullptr;
  const bool train = mode ? a.boolean(mode) : true;  // the operators without a flag are forward ones: all is checked
  for (const char* name : kPerChannel) {
    const bool saved = std::strncmp(name, "save_", 5) == 0, running = std::strncmp(name, "running_", 8) == 0;
    if (backward && ((saved && !train) || (running && train))) continue;
    at::Tensor t = a.is_output(name) ? at::Tensor() : a.tensor(name);  // out= tensors are resized
    if (t.defined())
      TORCH_CHECK_VALUE(t.dim() == 1 && t.size(0) == channels, op, ": ", name, " must have shape [", channels,
                        "] (one entry per channel of input ", input.sizes(), "), got ", t.sizes());
  }
  for (const char* grad : {"grad_out", "grad_output"}) {
    at::Tensor g = a.tensor(grad);
    if (g.defined()) check_same_shape(op, grad, g, "input", input);
  }
  if (backward) TORCH_CHECK_VALUE(input.numel() > 0, op, ": input is empty (the statistics would divide by a batch of 0)");
  if (mode && a.has("running_mean")) {
    std::vector<const char*> need;
    if (!train) need = {"running_mean", "running_var"};
    else if (backward) need = {"save_mean", a.has("save_invstd") ? "save_invstd" : "save_var"};
    for (const char* name : need)
      TORCH_CHECK_VALUE(a.tensor(name).defined(), op, ": ", name, " is required when ", mode, "=", train ? "true" : "false");
  }
}

// ---- embedding backward: indices are rows of a weight with num_weights rows ----

void check_embedding_backward(const Args& a) {
  const std::string& op = a.op();
  at::Tensor grad = a.tensor(a.has("grad_output") ? "grad_output" : "grad");
  at::Tensor indices = a.tensor("indices");
  int64_t num_weights = a.integer("num_weights");
  TORCH_CHECK_VALUE(num_weights >= 0, op, ": num_weights must be >= 0, got ", num_weights);
  TORCH_CHECK_VALUE(grad.dim() >= 1 && grad.numel() == indices.numel() * grad.size(-1), op, ": grad_output of shape ", grad.sizes(),
                    " must be indices' shape ", indices.sizes(), " plus an embedding dimension");
  check_range(op, "indices", indices, 0, num_weights);
}

// ---- segment reduction: lengths or offsets must cover the data along axis exactly ----

void check_segments(const Args& a) {
  const std::string& op = a.op();
  if (a.has("unsafe"))
    TORCH_CHECK_VALUE(!a.boolean("unsafe"), op, ": unsafe=true skips the check that the segments fit the data and is refused");
  at::Tensor data = a.tensor("data");
  int64_t axis = a.integer("axis");
  TORCH_CHECK_INDEX(axis >= -data.dim() && axis < data.dim(), op, ": axis ", axis, " is out of range for data of shape ", data.sizes());
  if (axis < 0) axis += data.dim();
  const int64_t size = data.size(axis);
  at::Tensor lengths = a.tensor("lengths"), offsets = a.tensor("offsets");
  TORCH_CHECK_VALUE(!a.tensor("indices").defined(), op, ": indices are not supported; pass lengths or offsets");
  TORCH_CHECK_VALUE(lengths.defined() != offsets.defined(), op, ": pass exactly one of lengths and offsets");
  const at::Tensor& seg = lengths.defined() ? lengths : offsets;
  const char* name = lengths.defined() ? "lengths" : "offsets";
  TORCH_CHECK_TYPE(c10::isIntegralType(seg.scalar_type(), false), op, ": ", name, " must be an integer tensor, got ", seg.scalar_type());
  TORCH_CHECK_VALUE(seg.dim() == axis + 1 && seg.sizes().slice(0, axis) == data.sizes().slice(0, axis), op, ": ", name, " of shape ",
                    seg.sizes(), " must have data's leading dimensions ", data.sizes().slice(0, axis), " plus one");
  int64_t segments;
  if (lengths.defined()) {
    segments = lengths.size(-1);
    if (lengths.numel()) check_range(op, "lengths", lengths, 0, size + 1);
    TORCH_CHECK_VALUE(at::all(lengths.sum(-1) == size).item<bool>(), op, ": lengths must sum to data.size(", axis, ") = ", size);
  } else {
    TORCH_CHECK_VALUE(offsets.size(-1) >= 1, op, ": offsets need at least one entry");
    segments = offsets.size(-1) - 1;
    check_range(op, "offsets", offsets, 0, size + 1);
    TORCH_CHECK_VALUE(at::all(offsets.select(-1, 0) == 0).item<bool>() && at::all(offsets.select(-1, -1) == size).item<bool>() &&
                          (segments == 0 || at::all(offsets.diff(1, -1) >= 0).item<bool>()),
                      op, ": offsets must start at 0, never decrease and end at data.size(", axis, ") = ", size);
  }
  at::Tensor grad = a.tensor("grad"), output = a.tensor("output");
  if (grad.defined()) {
    check_same_shape(op, "grad", grad, "output", output);
    TORCH_CHECK_VALUE(output.dim() == data.dim() && output.size(axis) == segments, op, ": output of shape ", output.sizes(),
                      " must have ", segments, " segments along axis ", axis, " of data ", data.sizes());
    for (int64_t d = 0; d < data.dim(); ++d)
      if (d != axis) TORCH_CHECK_VALUE(output.size(d) == data.size(d), op, ": output ", output.sizes(), " does not match data ", data.sizes());
  }
}

// ---- pooling backward: indices are positions in the spatial plane of self ----

void check_pool_indices(const Args& a, int spatial) {
  const std::string& op = a.op();
  at::Tensor grad = a.tensor("grad_output"), self = a.tensor("self"), indices = a.tensor("indices");
  TORCH_CHECK_VALUE(self.dim() == spatial + 1 || self.dim() == spatial + 2, op, ": self must have ", spatial + 1, " or ", spatial + 2,
                    " dimensions, got ", self.sizes());
  check_same_shape(op, "indices", indices, "grad_output", grad);
  TORCH_CHECK_VALUE(grad.dim() == self.dim() && grad.sizes().slice(0, self.dim() - spatial) == self.sizes().slice(0, self.dim() - spatial),
                    op, ": grad_output ", grad.sizes(), " must have the batch and channel dimensions of self ", self.sizes());
  TORCH_CHECK_TYPE(indices.scalar_type() == at::kLong, op, ": indices must be int64, got ", indices.scalar_type());
  int64_t plane = 1;
  for (int d = 0; d < spatial; ++d) plane *= self.size(self.dim() - 1 - d);
  check_range(op, "indices", indices, 0, plane);
}

// ---- lu_unpack: pivots are 1-based row numbers, min(m, n) of them per matrix ----

void check_lu_unpack(const Args& a) {
  const std::string& op = a.op();
  at::Tensor lu = a.tensor("LU_data"), pivots = a.tensor("LU_pivots");
  TORCH_CHECK_VALUE(lu.dim() >= 2, op, ": LU_data must have at least 2 dimensions, got ", lu.sizes());
  if (!a.boolean("unpack_pivots")) return;
  const int64_t m = lu.size(-2), k = std::min(lu.size(-2), lu.size(-1));
  TORCH_CHECK_TYPE(pivots.scalar_type() == at::kInt, op, ": LU_pivots must be int32, got ", pivots.scalar_type());
  TORCH_CHECK_VALUE(pivots.dim() == lu.dim() - 1 && pivots.sizes().slice(0, lu.dim() - 2) == lu.sizes().slice(0, lu.dim() - 2) && pivots.size(-1) == k,
                    op, ": LU_pivots of shape ", pivots.sizes(), " must be LU_data's batch shape plus [", k, "]");
  check_range(op, "LU_pivots", pivots, 1, m + 1);
}

// ---- the oneDNN LSTM layer: shapes as at::lstm passes them; the backward only takes a forward's workspace ----

struct RnnSignature {
  std::vector<int64_t> input, hx;
  int64_t hidden = 0;
  bool reverse = false, has_biases = false, batch_first = false, train = false;
  size_t workspace_bytes = 0;
  bool operator==(const RnnSignature& o) const {
    return input == o.input && hx == o.hx && hidden == o.hidden && reverse == o.reverse && has_biases == o.has_biases &&
           batch_first == o.batch_first && train == o.train && workspace_bytes == o.workspace_bytes;
  }
};

// Workspaces made by mkldnn_rnn_layer, by storage, while they are alive.
std::mutex g_rnn_mutex;
std::unordered_map<const c10::StorageImpl*, std::pair<c10::weak_intrusive_ptr<c10::StorageImpl>, RnnSignature>> g_rnn_workspaces;

RnnSignature check_rnn_layer(const Args& a, const char* w0, const char* w1, const char* w2, const char* w3, const char* cx_name) {
  const std::string& op = a.op();
  at::Tensor input = a.tensor("input");
  const int64_t hidden = a.integer("hidden_size"), mode = a.integer("mode");
  TORCH_CHECK_VALUE(mode == 2, op, ": only mode 2 (LSTM) is supported, got ", mode);
  TORCH_CHECK_VALUE(hidden >= 1, op, ": hidden_size must be >= 1, got ", hidden);
  TORCH_CHECK_VALUE(a[("batch_sizes")].toDimVector().empty(), op, ": packed sequences (batch_sizes) are not supported");
  TORCH_CHECK_VALUE(input.dim() == 3 && input.numel() > 0, op, ": input must be a non-empty 3-D tensor, got ", input.sizes());
  // The layer kernel always reads input as [seq, batch, features]: at::lstm transposes a batch-first
  // input before calling it (and passes batch_first on for the record).
  const bool batch_first = a.boolean("batch_first");
  const int64_t batch = input.size(1), features = input.size(2), gates = 4 * hidden;
  auto expect = [&](const char* name, std::vector<int64_t> shape) {
    at::Tensor t = a.tensor(name);
    TORCH_CHECK_VALUE(t.defined() && t.sizes() == c10::IntArrayRef(shape), op, ": ", name, " must have shape ", c10::IntArrayRef(shape),
                      ", got ", t.defined() ? t.sizes() : c10::IntArrayRef{});
    TORCH_CHECK_TYPE(t.scalar_type() == input.scalar_type(), op, ": ", name, " must have input's dtype ", input.scalar_type(), ", got ", t.scalar_type());
  };
  expect(w0, {gates, features});
  expect(w1, {gates, hidden});
  expect(w2, {gates});
  expect(w3, {gates});
  expect("hx_", {batch, hidden});
  expect(cx_name, {batch, hidden});
  RnnSignature s;
  s.input = input.sizes().vec();
  s.hx = {batch, hidden};
  s.hidden = hidden;
  s.reverse = a.boolean("reverse");
  s.has_biases = a.boolean("has_biases");
  s.batch_first = batch_first;
  s.train = a.boolean("train");
  return s;
}

void check_rnn_backward(const Args& a) {
  const std::string& op = a.op();
  RnnSignature s = check_rnn_layer(a, "weight1", "weight2", "weight3", "weight4", "cx_tmp");
  at::Tensor input = a.tensor("input"), output = a.tensor("output");
  std::vector<int64_t> out_shape = s.input;
  out_shape[2] = s.hidden;
  TORCH_CHECK_VALUE(output.sizes() == c10::IntArrayRef(out_shape), op, ": output must have shape ", c10::IntArrayRef(out_shape), ", got ", output.sizes());
  for (const char* name : {"hy_", "cy_"}) check_same_shape(op, name, a.tensor(name), "hx_", a.tensor("hx_"));
  for (auto [g, like] : {std::pair{"grad_output", "output"}, {"grad_hy", "hy_"}, {"grad_cy", "cy_"}}) {
    at::Tensor t = a.tensor(g);
    if (t.defined()) check_same_shape(op, g, t, like, a.tensor(like));
  }
  at::Tensor ws = a.tensor("workspace");
  TORCH_CHECK_VALUE(ws.defined() && ws.storage(), op, ": workspace must be the one mkldnn_rnn_layer returned");
  s.workspace_bytes = ws.storage().nbytes();
  std::lock_guard<std::mutex> lock(g_rnn_mutex);
  auto it = g_rnn_workspaces.find(ws.storage().unsafeGetStorageImpl());
  TORCH_CHECK_VALUE(it != g_rnn_workspaces.end() && it->second.first.lock().get() == ws.storage().unsafeGetStorageImpl() && it->second.second == s &&
                        ws.storage_offset() == 0 && static_cast<size_t>(ws.nbytes()) == s.workspace_bytes,
                    op, ": workspace must be the one mkldnn_rnn_layer returned for these shapes and flags (it holds oneDNN's layout)");
}

void remember_rnn_workspace(const Args& a, const torch::jit::Stack& stack) {
  RnnSignature s = check_rnn_layer(a, "weight0", "weight1", "weight2", "weight3", "cx_");
  const auto& ws = stack.back();
  if (!ws.isTensor() || !ws.toTensor().defined()) return;
  const auto& storage = ws.toTensor().storage();
  s.workspace_bytes = storage.nbytes();
  std::lock_guard<std::mutex> lock(g_rnn_mutex);
  if (g_rnn_workspaces.size() > 256)
    for (auto it = g_rnn_workspaces.begin(); it != g_rnn_workspaces.end();) it = it->second.first.expired() ? g_rnn_workspaces.erase(it) : std::next(it);
  g_rnn_workspaces.erase(storage.unsafeGetStorageImpl());
  g_rnn_workspaces.emplace(storage.unsafeGetStorageImpl(), std::make_pair(c10::weak_intrusive_ptr<c10::StorageImpl>(storage.getWeakStorageImpl()), s));
}

// ---- sparse COO construction: every index inside the size (the kernels that consume them trust it) ----

void check_sparse_coo(const Args& a) {
  const std::string& op = a.op();
  at::Tensor indices = a.tensor("indices"), values = a.tensor("values");
  const int64_t sparse_dim = a.integer("sparse_dim"), dense_dim = a.integer("dense_dim");
  auto size = a["size"].toDimVector();
  TORCH_CHECK_VALUE(sparse_dim >= 0 && dense_dim >= 0 && static_cast<int64_t>(size.size()) == sparse_dim + dense_dim, op, ": size ",
                    c10::IntArrayRef(size), " must have sparse_dim + dense_dim = ", sparse_dim, " + ", dense_dim, " entries");
  TORCH_CHECK_VALUE(indices.dim() == 2 && indices.size(0) == sparse_dim, op, ": indices must have shape [", sparse_dim, ", nnz], got ", indices.sizes());
  std::optional<bool> coalesced;
  if (a.has("is_coalesced") && !a["is_coalesced"].isNone()) coalesced = a.boolean("is_coalesced");
  at::_validate_sparse_coo_tensor_args(indices, values, size, coalesced);
}

void check_to_dense(const Args& a) {
  at::Tensor self = a.tensor("self");
  // A sparse tensor's indices are an alias that may have been written since construction.
  if (self.defined() && self.layout() == at::kSparse)
    at::_validate_sparse_coo_tensor_args(self._indices(), self._values(), self.sizes(), self.is_coalesced());
}

// ---- registration ----

struct Guard {
  std::function<void(const Args&)> before;
  std::function<void(const Args&, const torch::jit::Stack&)> after;  // sees the results on the stack
  bool factory = false;  // the operator has its own BackendSelect kernel, which this one takes the place of
};

const std::map<std::string, Guard>& guards() {
  static const auto* table = new std::map<std::string, Guard>{
      {"aten::native_batch_norm", {check_batch_norm}},
      {"aten::_native_batch_norm_legit", {check_batch_norm}},
      {"aten::_native_batch_norm_legit_no_training", {check_batch_norm}},
      {"aten::_native_batch_norm_legit_functional", {check_batch_norm}},
      {"aten::_batch_norm_with_update", {check_batch_norm}},
      {"aten::_batch_norm_with_update_functional", {check_batch_norm}},
      {"aten::_batch_norm_no_update", {check_batch_norm}},
      {"aten::batch_norm_update_stats", {check_batch_norm}},
      {"aten::native_batch_norm_backward", {check_batch_norm}},
      {"aten::batch_norm_backward", {check_batch_norm}},
      {"aten::embedding_dense_backward", {check_embedding_backward}},
      {"aten::segment_reduce", {check_segments}},
      {"aten::_segment_reduce_backward", {check_segments}},
      {"aten::adaptive_max_pool2d_backward", {[](const Args& a) { check_pool_indices(a, 2); }}},
      {"aten::adaptive_max_pool3d_backward", {[](const Args& a) { check_pool_indices(a, 3); }}},
      {"aten::max_pool2d_with_indices_backward", {[](const Args& a) { check_pool_indices(a, 2); }}},
      {"aten::max_pool3d_with_indices_backward", {[](const Args& a) { check_pool_indices(a, 3); }}},
      {"aten::lu_unpack", {check_lu_unpack}},
      {"aten::mkldnn_rnn_layer", {[](const Args& a) { check_rnn_layer(a, "weight0", "weight1", "weight2", "weight3", "cx_"); }, remember_rnn_workspace}},
      {"aten::mkldnn_rnn_layer_backward", {check_rnn_backward}},
      {"aten::_sparse_coo_tensor_with_dims_and_tensors", {check_sparse_coo, nullptr, /*factory=*/true}},
      {"aten::_to_dense", {check_to_dense}},
  };
  return *table;
}

const c10::DispatchKeySet kAfterBackendSelect(c10::DispatchKeySet::FULL_AFTER, c10::DispatchKey::BackendSelect);

std::optional<c10::ScalarType> opt_dtype(const c10::IValue& v) { return v.isNone() ? std::nullopt : std::optional(v.toScalarType()); }

void guarded(const c10::OperatorHandle& op, c10::DispatchKeySet ks, torch::jit::Stack* stack) {
  const Guard& g = guards().at(op.schema().name());
  g.before(Args(op, stack));
  torch::jit::Stack inputs;
  if (g.after) inputs.assign(stack->end() - op.schema().arguments().size(), stack->end());
  if (g.factory && Args(op, stack).has("dtype")) {
    // What the generated BackendSelect kernel of a factory does: the backend from dtype/layout/device
    // and the tensor arguments.
    Args a(op, stack);
    auto key = c10::computeDispatchKey(opt_dtype(a["dtype"]), a["layout"].toOptional<c10::Layout>(), a["device"].toOptional<c10::Device>());
    auto set = c10::DispatchKeySet(key) | c10::detail::multi_dispatch_key_set(a.tensor("indices"), a.tensor("values"));
    ks = c10::impl::computeDispatchKeySet(set, kAfterBackendSelect);
  } else {
    ks = ks & kAfterBackendSelect;
  }
  op.redispatchBoxed(ks, stack);
  if (g.after) {
    torch::jit::Stack view = std::move(inputs);
    Args in(op, &view);
    g.after(in, *stack);
  }
}

void refused(const c10::OperatorHandle& op, torch::jit::Stack*) {
  TORCH_CHECK_NOT_IMPLEMENTED(false, op.schema().name(),
                              " is not available: it reads fbgemm-packed weights out of whatever tensor it is given, which cannot be checked");
}

std::tuple<at::Tensor, at::Tensor> guarded_choose_qparams(const at::Tensor& input, int64_t numel, int64_t n_bins, double ratio, int64_t bit_width) {
  const char* op = "aten::choose_qparams_optimized";
  TORCH_CHECK_VALUE(numel >= 0 && numel <= input.numel(), op, ": numel must be in [0, ", input.numel(), "] (the elements of input), got ", numel);
  TORCH_CHECK_VALUE(n_bins >= 1 && n_bins <= (1 << 20), op, ": n_bins must be in [1, 2^20], got ", n_bins);
  TORCH_CHECK_VALUE(ratio > 0 && ratio <= 1, op, ": ratio must be in (0, 1], got ", ratio);
  TORCH_CHECK_VALUE(bit_width >= 1 && bit_width <= 16, op, ": bit_width must be in [1, 16], got ", bit_width);
  TORCH_CHECK_VALUE(numel == 0 || at::isfinite(input).all().item<bool>(), op, ": input must be finite");
  return at::native::choose_qparams_optimized(input, numel, n_bins, ratio, bit_width);
}

std::vector<std::string>& guarded_names() {
  static auto* v = new std::vector<std::string>();
  return *v;
}

// Kernel registrations live as long as the process.
void install() {
  // Replacing a composite kernel (and a factory's BackendSelect kernel) makes libtorch warn that a kernel
  // was overridden: intended here, so not shown.
  struct Quiet : c10::WarningHandler {
    void process(const c10::Warning&) override {}
  } quiet;
  c10::WarningUtils::WarningHandlerGuard no_warnings(&quiet);
  at::globalContext().setCheckSparseTensorInvariants(true);

  auto* backend_select = new torch::Library(torch::Library::IMPL, "aten", c10::DispatchKey::BackendSelect, __FILE__, __LINE__);
  for (const auto& name : c10::Dispatcher::singleton().getAllOpNames()) {
    if (!guards().count(name.name)) continue;
    std::string full = name.name.substr(6) + (name.overload_name.empty() ? "" : "." + name.overload_name);
    backend_select->impl(full.c_str(), torch::CppFunction::makeFromBoxedFunction<&guarded>());
    guarded_names().push_back(name.name + (name.overload_name.empty() ? "" : "." + name.overload_name));
  }
  auto* composite = new torch::Library(torch::Library::IMPL, "aten", c10::DispatchKey::CompositeImplicitAutograd, __FILE__, __LINE__);
  for (const char* cell : {"quantized_lstm_cell", "quantized_gru_cell", "quantized_rnn_relu_cell", "quantized_rnn_tanh_cell"}) {
    composite->impl(cell, torch::CppFunction::makeFromBoxedFunction<&refused>());
    guarded_names().push_back(std::string("aten::") + cell);
  }
  composite->impl("choose_qparams_optimized", TORCH_FN(guarded_choose_qparams));
  guarded_names().push_back("aten::choose_qparams_optimized");
}

// guardedOperators() -> the schema names (name.overload) that have a precondition or are refused.
napi_value guarded_operators(napi_env env, napi_callback_info) {
  napi_value arr;
  napi_create_array_with_length(env, guarded_names().size(), &arr);
  for (size_t i = 0; i < guarded_names().size(); ++i) napi_set_element(env, arr, static_cast<uint32_t>(i), make_string(env, guarded_names()[i]));
  return arr;
}

}  // namespace

void register_guards(napi_env env, napi_value exports) {
  static std::once_flag once;
  std::call_once(once, install);
  register_exports(env, exports, {{"guardedOperators", guarded_operators}});
}

}  // namespace lt
