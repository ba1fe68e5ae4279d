// A caching allocator for large CPU tensors, installed in front of libtorch's default CPU allocator.
//
// Why: glibc serves every allocation above its mmap threshold (at most 32 MiB) with a fresh mmap and
// gives it back with munmap on free. A training or evaluation step over a large vocabulary allocates
// the same big buffers every step (logits of [positions, 151,936] floats are hundreds of MiB, and so
// are their softmax and gradient), so each step the kernel maps, zero-fills one 4 KiB page fault at a
// time, and unmaps them again: measured on `latent eval` of a 2-layer model with Qwen's vocabulary,
// 12.5 million minor faults and a fifth to a third of the process's time in the kernel.
//
// What: blocks of at least kMinBytes are kept on free (up to a cap) and handed out again for a
// request of the same size class; new large blocks are 2 MiB aligned and asked for transparent huge
// pages. Smaller requests go to the default allocator unchanged. The cache only holds memory the
// program has freed, and live + cached large blocks stay within a quarter above the most the program
// ever had live at once, so the peak resident set is close to the one it would have had;
// emptyCpuCache() returns the cache. (With no margin, a training step that frees blocks it needs
// again later in the same step evicted them at its peak and missed ten times a step, each miss a
// fresh block's first-touch page faults: measured on bench sft's k = 0 step, 10 misses and 430
// faults a step without the margin, none and 80 with it, for 11 MiB more cached.)
//
// LT_CPU_CACHE_MB sets the cap (default 4096; 0 disables the cache, for comparisons).
//
// Small blocks (up to kSmallMaxBytes) are kept too, per thread, a few per size class: libtorch asks
// for every block 64-byte aligned, and glibc serves aligned requests (posix_memalign) outside its
// per-thread cache, splitting a larger chunk and freeing the pieces each time — more instructions
// than the whole rest of a small operator's allocation. A block freed on another thread goes to that
// thread's cache (or back to malloc when it is full); each thread's cache is freed when it exits.
// Like the large-block cache, this leaves out libtorch's debugging fills and profiler reports.
#include "common.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <sys/mman.h>

#include <cstdlib>
#include <algorithm>
#include <map>
#include <mutex>
#include <unordered_map>

namespace lt {
namespace {

constexpr size_t kMinBytes = size_t(1) << 20;    // below: the default allocator
constexpr size_t kHugePage = size_t(2) << 20;    // alignment and size granularity of large blocks
constexpr size_t kSmallGranule = size_t(64) << 10;

// Size classes: 64 KiB steps below 2 MiB, 2 MiB steps above, so that a batch whose sequences differ
// a little in length still finds the blocks the previous batch freed.
size_t size_class(size_t n) {
  const size_t granule = n < kHugePage ? kSmallGranule : kHugePage;
  return (n + granule - 1) / granule * granule;
}

void raw_delete(void* data);

// ---- small blocks: per-thread free lists of 64-byte aligned blocks ----

constexpr size_t kSmallAlign = 64;  // c10::gAlignment
constexpr int kSmallClasses = 5;    // 64, 128, 256, 512, 1024 bytes
constexpr size_t kSmallMaxBytes = kSmallAlign << (kSmallClasses - 1);
constexpr int kSmallPerClass = 32;

// Plain data (no constructor or destructor), so that it stays usable while the thread exits.
struct SmallCache {
  int count[kSmallClasses];
  bool flush_registered;
  bool closed;  // the thread is exiting: frees go straight to malloc
  void* blocks[kSmallClasses][kSmallPerClass];
};
thread_local SmallCache t_small;

struct SmallCacheFlush {
  ~SmallCacheFlush() {
    t_small.closed = true;
    for (int c = 0; c < kSmallClasses; ++c) {
      for (int i = 0; i < t_small.count[c]; ++i) std::free(t_small.blocks[c][i]);
      t_small.count[c] = 0;
    }
  }
};
thread_local SmallCacheFlush t_small_flush;

inline int small_class(size_t n) {
  int c = 0;
  while ((kSmallAlign << c) < n) ++c;
  return c;
}

template <int C>
void small_delete(void* data) {
  SmallCache& cache = t_small;
  if (cache.closed || cache.count[C] == kSmallPerClass) {
    std::free(data);
    return;
  }
  if (!cache.flush_registered) {
    cache.flush_registered = true;
    (void)&t_small_flush;  // first use in this thread: constructs it, so it runs at thread exit
  }
  cache.blocks[C][cache.count[C]++] = data;
}

constexpr c10::DeleterFnPtr kSmallDeleters[kSmallClasses] = {&small_delete<0>, &small_delete<1>, &small_delete<2>,
                                                            &small_delete<3>, &small_delete<4>};

c10::DataPtr small_allocate(size_t n) {
  const int c = small_class(n);
  SmallCache& cache = t_small;
  void* data;
  if (cache.count[c] > 0) {
    data = cache.blocks[c][--cache.count[c]];
  } else if (::posix_memalign(&data, kSmallAlign, kSmallAlign << c) != 0) {
    throw c10::OutOfMemoryError({__func__, __FILE__, static_cast<uint32_t>(__LINE__)},
                                "CPU allocator: cannot allocate " + std::to_string(n) + " bytes");
  }
  return {data, data, kSmallDeleters[c], c10::Device(c10::DeviceType::CPU)};
}

class CachingCpuAllocator final : public c10::Allocator {
 public:
  CachingCpuAllocator(c10::Allocator* fallback, size_t limit) : fallback_(fallback), limit_(limit) {}

  c10::DataPtr allocate(size_t n) override {
    if (n != 0 && n <= kSmallMaxBytes && limit_ != 0) return small_allocate(n);
    if (n < kMinBytes || limit_ == 0) return fallback_->allocate(n);
    const size_t bytes = size_class(n);
    void* data = take(bytes);  // also makes room: see take()
    if (data == nullptr) {
      if (::posix_memalign(&data, kHugePage, bytes) != 0) {
        empty();  // the cache may hold what this request needs
        if (::posix_memalign(&data, kHugePage, bytes) != 0)
          throw c10::OutOfMemoryError({__func__, __FILE__, static_cast<uint32_t>(__LINE__)},
                                      "CPU allocator: cannot allocate " + std::to_string(bytes) + " bytes");
      }
#ifdef MADV_HUGEPAGE
      ::madvise(data, bytes, MADV_HUGEPAGE);  // advice: 512 times fewer first-touch faults where THP is on
#endif
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      live_.emplace(data, bytes);
      live_bytes_ += bytes;
      peak_live_bytes_ = std::max(peak_live_bytes_, live_bytes_);
    }
    // Context = data and one deleter for every pointer: libtorch's raw_allocate/raw_deallocate need both.
    return {data, data, &raw_delete, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &raw_delete; }
  void copy_data(void* dest, const void* src, std::size_t count) const override { default_copy_data(dest, src, count); }

  // Frees `data`: a large block goes to the cache, anything else (raw_allocate of a small size) to the default allocator.
  void deallocate(void* data) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = live_.find(data);
      if (it != live_.end()) {
        const size_t bytes = it->second;
        live_.erase(it);
        live_bytes_ -= bytes;
        // Over the cap: drop the largest cached blocks first (the one freed now included).
        cached_.emplace(bytes, data);
        cached_bytes_ += bytes;
        while (cached_bytes_ > limit_ && !cached_.empty()) {
          auto largest = std::prev(cached_.end());
          cached_bytes_ -= largest->first;
          std::free(largest->second);
          cached_.erase(largest);
        }
        return;
      }
    }
    if (c10::DeleterFnPtr fallback_delete = fallback_->raw_deleter()) fallback_delete(data);
    else c10::free_cpu(data);
  }

  // Frees every cached block; returns the bytes freed.
  size_t empty() {
    std::lock_guard<std::mutex> lock(mutex_);
    const size_t freed = cached_bytes_;
    for (auto& [bytes, data] : cached_) std::free(data);
    cached_.clear();
    cached_bytes_ = 0;
    return freed;
  }

  struct Stats {
    size_t cached_bytes, hits, misses, limit;
  };
  Stats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {cached_bytes_, hits_, misses_, limit_};
  }

 private:
  // A cached block of exactly this size class, or null. On a miss, cached blocks of other classes are
  // freed until live + cached + the new block fit in the largest live total seen so far plus a quarter,
  // so the cache raises the footprint at most a quarter above the program's own peak (shapes that
  // change from batch to batch would otherwise fill the cap with classes never asked for again).
  void* take(size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = cached_.find(bytes);
    if (it == cached_.end()) {
      ++misses_;
      while (!cached_.empty() && live_bytes_ + cached_bytes_ + bytes > peak_live_bytes_ + peak_live_bytes_ / 4) {
        auto largest = std::prev(cached_.end());
        cached_bytes_ -= largest->first;
        std::free(largest->second);
        cached_.erase(largest);
      }
      return nullptr;
    }
    ++hits_;
    void* data = it->second;
    cached_bytes_ -= bytes;
    cached_.erase(it);
    return data;
  }

  c10::Allocator* fallback_;
  const size_t limit_;
  std::mutex mutex_;
  std::multimap<size_t, void*> cached_;
  std::unordered_map<void*, size_t> live_;  // large blocks handed out, by address
  size_t cached_bytes_ = 0;
  size_t live_bytes_ = 0;       // large blocks handed out now
  size_t peak_live_bytes_ = 0;  // the most ever handed out at once
  size_t hits_ = 0;
  size_t misses_ = 0;
};

CachingCpuAllocator* g_allocator = nullptr;  // never destroyed: tensors may be freed during process teardown

void raw_delete(void* data) { g_allocator->deallocate(data); }

size_t limit_from_env() {
  const char* v = std::getenv("LT_CPU_CACHE_MB");
  if (v == nullptr || *v == '\0') return size_t(4096) << 20;
  char* end = nullptr;
  const unsigned long long mb = std::strtoull(v, &end, 10);
  if (end == v || *end != '\0') return size_t(4096) << 20;
  return static_cast<size_t>(mb) << 20;
}


napi_value empty_cpu_cache(napi_env env, napi_callback_info) {
  return make_double(env, static_cast<double>(g_allocator ? g_allocator->empty() : 0));
}

// cpuCacheStats(): [cachedBytes, hits, misses, limitBytes]
napi_value cpu_cache_stats(napi_env env, napi_callback_info) {
  LT_TRY
  const auto s = g_allocator ? g_allocator->stats() : CachingCpuAllocator::Stats{0, 0, 0, 0};
  napi_value out;
  napi_create_array_with_length(env, 4, &out);
  const double values[] = {double(s.cached_bytes), double(s.hits), double(s.misses), double(s.limit)};
  for (uint32_t i = 0; i < 4; ++i) napi_set_element(env, out, i, make_double(env, values[i]));
  return out;
  LT_CATCH_PLAIN("cpuCacheStats")
}

}  // namespace

void register_cpu_allocator(napi_env env, napi_value exports) {
  if (g_allocator == nullptr) {
    g_allocator = new CachingCpuAllocator(c10::GetDefaultCPUAllocator(), limit_from_env());
    // Priority above the default's, so libtorch's own CPU allocations (at::empty and friends) come here.
    c10::SetCPUAllocator(g_allocator, /*priority=*/1);
  }
  register_exports(env, exports, {{"emptyCpuCache", empty_cpu_cache}, {"cpuCacheStats", cpu_cache_stats}});
}

}  // namespace lt
