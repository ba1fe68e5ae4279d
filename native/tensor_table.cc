// The process-wide tensor handle table.
//
// A handle packs a slot index (low 21 bits) and the slot's 32-bit generation (the bits above), so a
// handle kept after its tensor was released never reaches the tensor that later reuses the slot: a
// slot whose generation would wrap is retired instead of reused, so no generation repeats. Handles
// stay below 2^53 (exact JS numbers); V8 keeps those below 2^31 as small integers.
#include "common.h"

#include <unordered_map>

namespace lt {
namespace {

constexpr int kIndexBits = 21;
constexpr uint32_t kIndexMask = (1u << kIndexBits) - 1;
constexpr uint32_t kLastGeneration = 0xffffffffu;

Handle make_handle(uint32_t generation, uint32_t index) {
  return static_cast<Handle>((static_cast<uint64_t>(generation) << kIndexBits) | index);
}

struct Table {
  std::vector<at::Tensor> slots;
  std::vector<uint32_t> generations;
  std::vector<uint32_t> free_slots;
  size_t live = 0;
  bool debug = false;
  std::unordered_map<uint32_t, std::string> sites;  // debug mode: creation stack per slot
  std::vector<int64_t> external;                     // bytes reported to V8 for the slot's tensor
  int64_t pending_external_bytes = 0;                // reported to V8 in batches
  std::vector<at::Tensor> deferred;                  // released small tensors, destroyed one per insert
};

// A scope frees its results together: destroying a thousand small tensors in a row overflows the
// allocator's per-thread cache (glibc's tcache keeps 7 blocks per size) into its slow paths, and the
// next thousand allocations come from there too. Released small CPU tensors are therefore destroyed
// one per later table_insert — each block is freed just before another result needs one, as when
// every result is freed at once. Only tensors that hold little memory and no autograd graph wait
// (the handle is invalid at once either way), and never more than kDeferredMax of them.
constexpr size_t kDeferredMax = 4096;
constexpr size_t kDeferredBytes = 1024;

bool may_defer(const Table& tb, const at::Tensor& t) {
  return tb.deferred.size() < kDeferredMax && t.is_cpu() && !t.requires_grad() &&
         (!t.has_storage() || t.storage().nbytes() <= kDeferredBytes);
}

// Made when the addon loads (a function-local static would test its guard on every call), and never
// destroyed: tensors may be released during process teardown.
Table* const g_table = new Table();
inline Table& table() { return *g_table; }

// CPU bytes a tensor owns, as a hint for V8's GC heuristics. Only tensors left to their finalizer
// are reported (table_account_external, when the JS side registers one): a tensor that a scope or
// dispose() frees never needs a collection, and reporting every result made the hundreds of MiB a
// training step allocates and frees look like external growth, so V8 ran a full collection every
// step or two for nothing (bench sft k0: 16 full collections in 26 steps, 2 without them).
// Storages below kExternalMinBytes are left out: the hint is for the tensors whose memory matters.
constexpr size_t kExternalMinBytes = 4096;

int64_t owned_cpu_bytes(const at::Tensor& t) {
  if (!t.defined() || !t.has_storage()) return 0;
  const auto& storage = t.storage();
  const size_t bytes = storage.nbytes();
  if (bytes < kExternalMinBytes || !t.is_cpu() || storage.use_count() != 1 || is_file_mapped(storage)) return 0;
  return static_cast<int64_t>(bytes);
}

void report_external(napi_env env, int64_t delta) {
  Table& tb = table();
  tb.pending_external_bytes += delta;
  if (tb.pending_external_bytes > (4 << 20) || tb.pending_external_bytes < -(4 << 20)) {
    int64_t ignored;
    napi_adjust_external_memory(env, tb.pending_external_bytes, &ignored);
    tb.pending_external_bytes = 0;
  }
}

}  // namespace

Handle table_insert(napi_env env, at::Tensor t) {
  if (!t.defined()) return kNoTensor;
  Table& tb = table();
  uint32_t index;
  if (!tb.free_slots.empty()) {
    index = tb.free_slots.back();
    tb.free_slots.pop_back();
    tb.slots[index] = std::move(t);
  } else {
    index = static_cast<uint32_t>(tb.slots.size());
    if (index > kIndexMask) throw std::runtime_error("too many live tensors (2^21): dispose tensors or use torch.scope");
    tb.slots.push_back(std::move(t));
    tb.generations.push_back(0);
    tb.external.push_back(0);
  }
  ++tb.live;
  if (!tb.deferred.empty()) tb.deferred.pop_back();
  return make_handle(tb.generations[index], index);
}

static bool handle_valid(const Table& tb, Handle h, uint32_t* index) {
  if (h < 0 || h >= (int64_t(1) << (kIndexBits + 32))) return false;
  uint32_t i = static_cast<uint32_t>(h) & kIndexMask;
  uint32_t gen = static_cast<uint32_t>(static_cast<uint64_t>(h) >> kIndexBits);
  if (i >= tb.slots.size() || tb.generations[i] != gen || !tb.slots[i].defined()) return false;
  *index = i;
  return true;
}

const at::Tensor& table_get(napi_env, Handle h) {
  Table& tb = table();
  uint32_t i;
  if (!handle_valid(tb, h, &i)) throw HandleError("the tensor was disposed (its memory was released) and cannot be used");
  return tb.slots[i];
}

bool table_release(napi_env env, Handle h) {
  Table& tb = table();
  uint32_t i;
  if (!handle_valid(tb, h, &i)) return false;
  if (tb.external[i] != 0) {
    report_external(env, -tb.external[i]);
    tb.external[i] = 0;
  }
  if (may_defer(tb, tb.slots[i])) tb.deferred.push_back(std::move(tb.slots[i]));
  tb.slots[i] = at::Tensor();
  // After 2^32 uses the slot is retired (12 bytes each), so that no generation is ever handed out twice.
  if (tb.generations[i] != kLastGeneration) {
    ++tb.generations[i];
    tb.free_slots.push_back(i);
  }
  if (tb.debug) tb.sites.erase(i);
  --tb.live;
  return true;
}

void table_account_external(napi_env env, Handle h) {
  Table& tb = table();
  uint32_t i;
  if (!handle_valid(tb, h, &i) || tb.external[i] != 0) return;
  tb.external[i] = owned_cpu_bytes(tb.slots[i]);
  if (tb.external[i] != 0) report_external(env, tb.external[i]);
}

size_t table_live_count() { return table().live; }
void table_set_debug(bool on) {
  table().debug = on;
  if (!on) table().sites.clear();
}
bool table_debug() { return table().debug; }

void table_set_creation_site(Handle h, std::string site) {
  if (h < 0) return;
  table().sites[static_cast<uint32_t>(h) & kIndexMask] = std::move(site);
}

std::string table_creation_site(Handle h) {
  auto& sites = table().sites;
  auto it = sites.find(static_cast<uint32_t>(h) & kIndexMask);
  return it == sites.end() ? std::string() : it->second;
}

std::vector<std::pair<Handle, const at::Tensor*>> table_snapshot() {
  Table& tb = table();
  std::vector<std::pair<Handle, const at::Tensor*>> out;
  out.reserve(tb.live);
  for (uint32_t i = 0; i < tb.slots.size(); ++i) {
    if (tb.slots[i].defined()) out.emplace_back(make_handle(tb.generations[i], i), &tb.slots[i]);
  }
  return out;
}

}  // namespace lt
