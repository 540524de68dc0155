// The per-thread worker pools behind parallel_for (parallel.h).
#include "kernels/parallel.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace gpt::kernels {

namespace {

// Waiting for a value to change: first kSpins pause instructions (tens of
// cycles each), then up to kYields sched_yield() calls, then a futex sleep.
// A yield hands the core to a thread that shares it (often the very partner
// we wait for, when the machine has more runnable threads than cores) and
// returns at once when there is none; after a millisecond or two of that an
// idle worker sleeps. Measured with 2 threads on the 2-core machine (tg64 of
// the default model): quiet, spinning or yielding decode alike (304-327
// tokens/s); with a busy loop on one core, 4096 pure spins gave 35 tokens/s,
// OpenMP 113, 128 spins + 2000 yields 154; two such processes at once, 34,
// 80 and 157 each.
constexpr int kSpins = 128;
constexpr int kYields = 2000;

inline void cpu_relax() noexcept { __builtin_ia32_pause(); }

template <typename T>
T wait_change(const std::atomic<T>& a, T old) noexcept {
  for (int i = 0; i < kSpins; ++i) {
    const T v = a.load(std::memory_order_acquire);
    if (v != old) return v;
    cpu_relax();
  }
  for (int i = 0; i < kYields; ++i) {
    const T v = a.load(std::memory_order_acquire);
    if (v != old) return v;
    sched_yield();
  }
  for (;;) {
    a.wait(old, std::memory_order_acquire);
    const T v = a.load(std::memory_order_acquire);
    if (v != old) return v;
  }
}

thread_local bool t_in_loop = false;

class Pool {
 public:
  Pool() = default;
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  ~Pool() {
    stop_.store(true, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    for (auto& t : workers_) t.join();
  }

  // job(i) on thread i for i < threads: i = 0 is the caller, the others
  // workers 0 .. threads-2.
  void run(int threads, const std::function<void(int)>& job) {
    while (static_cast<int>(workers_.size()) < threads - 1) {
      const int index = static_cast<int>(workers_.size());
      const std::uint64_t seen = generation_.load(std::memory_order_relaxed);
      workers_.emplace_back([this, index, seen] { work(index, seen); });
    }
    // Every worker answers every loop, needed or not: when this returns, no
    // worker still reads job_ or active_, so the next loop may rewrite them.
    job_ = &job;
    active_ = threads - 1;
    pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);  // publishes job_, active_, pending_
    generation_.notify_all();
    job(0);
    for (int left = pending_.load(std::memory_order_acquire); left != 0;) left = wait_change(pending_, left);
  }

 private:
  void work(int index, std::uint64_t seen) {
    t_in_loop = true;
    for (;;) {
      seen = wait_change(generation_, seen);
      if (stop_.load(std::memory_order_relaxed)) return;
      if (index < active_) (*job_)(index + 1);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
    }
  }

  std::vector<std::thread> workers_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  const std::function<void(int)>* job_ = nullptr;  // written before generation_ moves on
  int active_ = 0;
};

// The calling thread's pool. A child process made by fork() has none of
// the parent's workers: it leaves the copied pool alone (its threads do not
// exist there, so it can be neither run nor joined) and starts its own.
Pool& this_threads_pool() {
  thread_local std::unique_ptr<Pool> pool;
  thread_local pid_t owner = 0;
  if (!pool || owner != ::getpid()) {
    if (pool && owner != ::getpid()) static_cast<void>(pool.release());  // the parent's: leaked on purpose
    pool = std::make_unique<Pool>();
    owner = ::getpid();
  }
  return *pool;
}

}  // namespace

int default_threads() noexcept {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

void parallel_for(int threads, std::int64_t n, const std::function<void(std::int64_t, std::int64_t)>& body) {
  if (n <= 0) return;
  if (threads <= 0) threads = default_threads();
  threads = static_cast<int>(std::min<std::int64_t>(threads, n));
  if (threads <= 1 || t_in_loop) {
    body(0, n);
    return;
  }
  std::exception_ptr error;
  std::mutex error_mu;
  const std::function<void(int)> job = [&](int i) {
    const std::int64_t begin = n * i / threads, end = n * (i + 1) / threads;
    try {
      if (begin < end) body(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mu);
      if (!error) error = std::current_exception();
    }
  };
  struct InLoop {
    InLoop() { t_in_loop = true; }
    ~InLoop() { t_in_loop = false; }
  } in_loop;
  this_threads_pool().run(threads, job);
  if (error) std::rethrow_exception(error);
}

}  // namespace gpt::kernels
