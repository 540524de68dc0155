// The library's worker threads (kernels/parallel.h): every index exactly
// once, in contiguous ranges; exceptions carried to the caller; nested loops,
// concurrent callers and a forked child all finish.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kernels/parallel.h"

namespace {

namespace k = gpt::kernels;

// Runs a loop and checks that [0, n) was covered exactly once.
bool covers_once(int threads, std::int64_t n) {
  std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
  std::atomic<int> calls{0};
  k::parallel_for(threads, n, [&](std::int64_t b, std::int64_t e) {
    calls.fetch_add(1);
    for (std::int64_t i = b; i < e; ++i) hits[static_cast<std::size_t>(i)].fetch_add(1);
  });
  for (auto& h : hits)
    if (h.load() != 1) return false;
  const std::int64_t want_calls = n == 0 ? 0 : std::min<std::int64_t>(threads <= 0 ? k::default_threads() : threads, n);
  return calls.load() == want_calls;
}

TEST(parallel, EveryIndexOnceInOneRangePerThread) {
  EXPECT_GE(k::default_threads(), 1);
  for (int threads : {0, 1, 2, 3, 8})
    for (std::int64_t n : {0, 1, 2, 3, 7, 64, 1001})
      EXPECT_TRUE(covers_once(threads, n)) << threads << " threads, n = " << n;
  // Fewer threads after more, and more again: the same pool serves them all.
  for (int rep = 0; rep < 200; ++rep) ASSERT_TRUE(covers_once(1 + rep % 5, 50 + rep)) << rep;
}

TEST(parallel, TheFirstExceptionReachesTheCallerAndThePoolKeepsWorking) {
  for (int threads : {1, 2, 4}) {
    try {
      k::parallel_for(threads, 100, [&](std::int64_t b, std::int64_t) {
        if (b >= 50 || threads == 1) throw std::runtime_error("range from " + std::to_string(b));
      });
      ADD_FAILURE() << "no exception with " << threads << " threads";
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("range from ", 0), 0u) << e.what();
    }
    EXPECT_TRUE(covers_once(threads, 100)) << threads << " threads after an exception";
  }
}

TEST(parallel, ANestedLoopRunsOnItsThread) {
  std::atomic<std::int64_t> sum{0};
  k::parallel_for(4, 8, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i)
      k::parallel_for(4, 10, [&](std::int64_t b2, std::int64_t e2) {
        for (std::int64_t j = b2; j < e2; ++j) sum.fetch_add(i * 10 + j);
      });
  });
  EXPECT_EQ(sum.load(), 79 * 80 / 2);
}

TEST(parallel, ConcurrentCallersEachGetTheirOwnWorkers) {
  std::atomic<int> failures{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&, c] {
      for (int rep = 0; rep < 100; ++rep)
        if (!covers_once(2 + (c + rep) % 3, 33 + rep)) failures.fetch_add(1);
    });
  for (auto& t : callers) t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(parallel, AForkedChildStartsItsOwnWorkers) {
  ASSERT_TRUE(covers_once(3, 100));  // this thread's workers exist before the fork
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(covers_once(3, 100) && covers_once(2, 7) ? 0 : 1);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
