// Counterpart side of the benchmark protocol for C++ programs calling ATen directly (see
// bench/lib/counterparts.ts): a program defines its cases and returns bench::run(argc, argv, cases).
//
//   core_bench --cases a,b --threads T --warmup-ms W --sample-ms S --repeats R --clock wall|cpu
//
// prints progress to stderr and one JSON report as the last line of stdout. The measurement loop is
// the one of bench/lib/timing.ts (warm-up, calibration to about S ms per sample, R samples); the clock
// is wall time or the CPU time of the process (all threads).
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/version.h>

#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace bench {

struct Case {
  std::string description;  // the code timed
  int64_t units;            // operator calls per iteration
  // Makes the inputs and returns the iteration to time (inputs live as long as the returned function).
  std::function<std::function<void()>()> setup;
};

// An iteration running `batch` calls of `call`, each result destroyed (freed) before the next call.
template <typename Call>
std::function<void()> batched(int64_t batch, Call call) {
  return [batch, call]() {
    for (int64_t i = 0; i < batch; ++i) {
      at::Tensor result = call();
      (void)result;
    }
  };
}

struct Measurement {
  std::vector<double> samples_ns;
  int64_t iterations_per_sample;
  int64_t units_per_iteration;
};

constexpr double kMinCalibrationNs = 1e6;  // as in bench/lib/timing.ts

enum class Clock { kWall, kCpu };

// Nanoseconds on the chosen clock, from an arbitrary origin.
inline double now_ns(Clock clock) {
  timespec ts;
  clock_gettime(clock == Clock::kCpu ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

inline Measurement measure(const std::function<void()>& iteration, int64_t units, double warmup_ms, double sample_ms, int repeats, Clock clock = Clock::kWall) {
  auto ns_since = [clock](double t0) { return now_ns(clock) - t0; };
  int64_t runs = 0;
  double elapsed = 0;
  const double start = now_ns(clock);
  while (runs < 2 || elapsed < warmup_ms * 1e6 || elapsed < kMinCalibrationNs) {
    iteration();
    ++runs;
    elapsed = ns_since(start);
  }
  const int64_t iterations = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(sample_ms * 1e6 / std::max(elapsed / runs, 1.0))));
  Measurement m{{}, iterations, units};
  for (int r = 0; r < repeats; ++r) {
    const double t0 = now_ns(clock);
    for (int64_t i = 0; i < iterations; ++i) iteration();
    m.samples_ns.push_back(ns_since(t0) / static_cast<double>(iterations * units));
  }
  return m;
}

inline std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// Same units as bench/lib/report.ts formatDuration: "712 ns", "53.6 µs", "1.29 ms".
inline std::string format_duration(double ns) {
  char buf[32];
  if (ns < 1e4) {
    std::snprintf(buf, sizeof buf, "%.0f ns", ns);
    return buf;
  }
  const char* unit = ns < 1e7 ? "µs" : ns < 1e10 ? "ms" : "s";
  const double v = ns < 1e7 ? ns / 1e3 : ns < 1e10 ? ns / 1e6 : ns / 1e9;
  std::snprintf(buf, sizeof buf, v >= 100 ? "%.0f %s" : v >= 10 ? "%.1f %s" : "%.2f %s", v, unit);
  return buf;
}

[[noreturn]] inline void usage_error(const std::string& program, const std::string& problem) {
  std::fprintf(stderr, "%s: %s\nusage: %s --cases a,b --threads T --warmup-ms W --sample-ms S --repeats R [--clock wall|cpu]\n", program.c_str(), problem.c_str(), program.c_str());
  std::exit(2);
}

inline double number_arg(const std::string& program, const std::string& flag, const char* text, double min) {
  char* end = nullptr;
  double v = std::strtod(text, &end);
  if (end == text || *end != '\0' || !std::isfinite(v) || v < min) usage_error(program, flag + " expects a number >= " + std::to_string(min) + ", got \"" + text + "\"");
  return v;
}

inline int run(int argc, char** argv, const std::map<std::string, Case>& cases) {
  const std::string program = argv[0];
  std::vector<std::string> requested;
  double threads = -1, warmup_ms = -1, sample_ms = -1, repeats = -1;
  Clock clock = Clock::kWall;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) usage_error(program, flag + " needs a value");
    const char* value = argv[++i];
    if (flag == "--cases") {
      std::stringstream ss(value);
      for (std::string name; std::getline(ss, name, ',');)
        if (!name.empty()) requested.push_back(name);
    } else if (flag == "--threads") {
      threads = number_arg(program, flag, value, 1);
    } else if (flag == "--warmup-ms") {
      warmup_ms = number_arg(program, flag, value, 0);
    } else if (flag == "--sample-ms") {
      sample_ms = number_arg(program, flag, value, 1e-3);
    } else if (flag == "--repeats") {
      repeats = number_arg(program, flag, value, 1);
    } else if (flag == "--clock") {
      const std::string kind = value;
      if (kind != "wall" && kind != "cpu") usage_error(program, "--clock expects wall or cpu, got \"" + kind + "\"");
      clock = kind == "cpu" ? Clock::kCpu : Clock::kWall;
    } else {
      usage_error(program, "unknown option " + flag);
    }
  }
  if (requested.empty() || threads < 0 || warmup_ms < 0 || sample_ms < 0 || repeats < 0)
    usage_error(program, "--cases, --threads, --warmup-ms, --sample-ms and --repeats are all required");

  at::set_num_threads(static_cast<int>(threads));
  std::ostringstream results, unknown;
  bool first_result = true, first_unknown = true;
  for (const auto& name : requested) {
    auto it = cases.find(name);
    if (it == cases.end()) {
      unknown << (first_unknown ? "" : ",") << json_string(name);
      first_unknown = false;
      continue;
    }
    const Case& c = it->second;
    Measurement m;
    {
      std::function<void()> iteration = c.setup();
      m = measure(iteration, c.units, warmup_ms, sample_ms, static_cast<int>(repeats), clock);
    }
    std::vector<double> sorted = m.samples_ns;
    std::sort(sorted.begin(), sorted.end());
    const size_t n = sorted.size();
    const double median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    std::fprintf(stderr, "  %-24s %9s\n", name.c_str(), format_duration(median).c_str());
    results << (first_result ? "" : ",") << json_string(name) << ":{\"description\":" << json_string(c.description) << ",\"samples_ns\":[";
    for (size_t i = 0; i < m.samples_ns.size(); ++i) results << (i ? "," : "") << m.samples_ns[i];
    results << "],\"iterations_per_sample\":" << m.iterations_per_sample << ",\"units_per_iteration\":" << m.units_per_iteration << "}";
    first_result = false;
  }
  std::ostringstream impl;
  impl << "C++ ATen (libtorch " << TORCH_VERSION << ", " <<
#if defined(__clang__)
      "clang "
#else
      "g++ "
#endif
       << __VERSION__ << ")";
  std::printf("{\"implementation\":%s,\"threads\":%d,\"unknown_cases\":[%s],\"results\":{%s}}\n", json_string(impl.str()).c_str(), at::get_num_threads(),
              unknown.str().c_str(), results.str().c_str());
  return 0;
}

}  // namespace bench
