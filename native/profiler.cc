// Operator profiler: counts and times every ATen operator and autograd node that libtorch's
// RecordFunction reports (the events torch.profiler sees), aggregated by name. Self time is an
// event's time minus that of the events nested in it on the same thread, as in PyTorch's
// key_averages(). Aggregation happens in the callbacks, so a profile of thousands of steps holds one
// row per operator name, not one per call.
#include "common.h"

#include <ATen/record_function.h>

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace lt {
namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Totals {
  int64_t count = 0;
  int64_t total_ns = 0;
  int64_t self_ns = 0;
  bool backward = false;
};

// One open event per nesting level of this thread: its start and the time of its finished children.
struct OpenEvent {
  int64_t start_ns;
  int64_t children_ns;
};
thread_local std::vector<OpenEvent> open_events;

std::mutex totals_mutex;
std::unordered_map<std::string, Totals> totals;
at::CallbackHandle active = 0;

std::unique_ptr<at::ObserverContext> on_enter(const at::RecordFunction&) {
  open_events.push_back({now_ns(), 0});
  return nullptr;
}

void on_exit(const at::RecordFunction& fn, at::ObserverContext*) {
  // An event that began before start() has no open entry here: skip it (and keep the stack balanced).
  if (open_events.empty()) return;
  const OpenEvent e = open_events.back();
  open_events.pop_back();
  const int64_t total = now_ns() - e.start_ns;
  if (!open_events.empty()) open_events.back().children_ns += total;
  std::lock_guard<std::mutex> lock(totals_mutex);
  Totals& t = totals[fn.name()];
  t.count += 1;
  t.total_ns += total;
  t.self_ns += total - e.children_ns;
  t.backward = fn.scope() == at::RecordScope::BACKWARD_FUNCTION;
}

// profilerStart(): begin counting on every thread. One profile at a time.
napi_value profiler_start(napi_env env, napi_callback_info) {
  LT_TRY
  TORCH_CHECK_VALUE(active == 0, "a profile is already running: stop it before starting another");
  {
    std::lock_guard<std::mutex> lock(totals_mutex);
    totals.clear();
  }
  open_events.clear();
  active = at::addGlobalCallback(at::RecordFunctionCallback(on_enter, on_exit)
                                     .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION})
                                     .needsInputs(false));
  return make_undefined(env);
  LT_CATCH_PLAIN("torch.profiler.start")
}

// profilerStop() -> {name, count, totalNs, selfNs, backward}[]: stop counting and hand over the totals.
napi_value profiler_stop(napi_env env, napi_callback_info) {
  LT_TRY
  TORCH_CHECK_VALUE(active != 0, "no profile is running");
  at::removeCallback(active);
  active = 0;
  open_events.clear();
  std::vector<std::pair<std::string, Totals>> rows;
  {
    std::lock_guard<std::mutex> lock(totals_mutex);
    rows.assign(totals.begin(), totals.end());
    totals.clear();
  }
  napi_value out;
  napi_create_array_with_length(env, rows.size(), &out);
  for (size_t i = 0; i < rows.size(); ++i) {
    napi_value row;
    napi_create_object(env, &row);
    napi_set_named_property(env, row, "name", make_string(env, rows[i].first));
    napi_set_named_property(env, row, "count", make_double(env, static_cast<double>(rows[i].second.count)));
    napi_set_named_property(env, row, "totalNs", make_double(env, static_cast<double>(rows[i].second.total_ns)));
    napi_set_named_property(env, row, "selfNs", make_double(env, static_cast<double>(rows[i].second.self_ns)));
    napi_set_named_property(env, row, "backward", make_bool(env, rows[i].second.backward));
    napi_set_element(env, out, static_cast<uint32_t>(i), row);
  }
  return out;
  LT_CATCH_PLAIN("torch.profiler.stop")
}

}  // namespace

void register_profiler(napi_env env, napi_value exports) {
  register_exports(env, exports,
                   {{"profilerStart", profiler_start}, {"profilerStop", profiler_stop}});
}

}  // namespace lt
