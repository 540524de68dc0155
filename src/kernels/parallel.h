// The library's own worker threads (internal to src/).
//
// parallel_for splits a loop among `threads` threads: the calling thread and
// threads-1 workers of a pool that belongs to the calling thread (each thread
// that calls parallel_for gets its own workers, started on first use and
// joined when it exits, so concurrent callers never wait on each other).
// Between loops a worker spins briefly on the pool's generation counter,
// then yields the core (sched_yield) for a millisecond or two, then sleeps on
// the counter (a futex): a decode step of many short loops pays no thread
// wake-up, a thread waiting on a descheduled partner gives it the core at
// once instead of spinning through its time slice, and an idle process does
// not keep burning cores. (OpenMP's default active waiting, which this
// replaces, fell to 0.1 tokens/s with more threads than free cores; see
// parallel.cpp for the measurements.)
//
// The work is cut into `threads` contiguous ranges, as OpenMP's
// schedule(static): every result in this library is computed by one thread
// from its own inputs, so the split never changes a bit, only the balance.
// A loop started inside a loop (on a worker, or on the caller while its loop
// runs) runs serially on that thread. The first exception thrown by the body
// is rethrown by parallel_for once every thread has finished its range (a
// thread stops at its first exception).
#pragma once

#include <cstdint>
#include <functional>

namespace gpt::kernels {

// The number of cores this process may run on (its CPU affinity mask).
int default_threads() noexcept;

// body(begin, end) over consecutive ranges covering [0, n), on up to
// `threads` threads (<= 0: default_threads()); never more threads than n.
void parallel_for(int threads, std::int64_t n, const std::function<void(std::int64_t, std::int64_t)>& body);

}  // namespace gpt::kernels
