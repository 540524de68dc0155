// The request scheduler: who generates when.
//
// A request leases one of --parallel sequence slots (acquire()); each choice
// it generates is submitted to one gpt::Batch that a single worker thread
// owns and steps: every running sequence of every request advances by one
// token per forward pass (batched decoding, gpt/batch.h), and new sequences
// join between passes. The model's worker threads and the KV pool belong to
// that one thread, not to the HTTP threads. Requests that find every slot
// busy wait in a bounded queue; a request that finds the queue full gets a
// 503 at once.
//
// HTTP handlers only call acquire() and generate() (which blocks, streaming
// through options.on_text on the worker thread, until the choice is done).
//
// Threads: every member function is safe to call from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "gpt/batch.h"
#include "gpt/generate.h"

namespace gpt::server {

struct SchedulerOptions {
  int parallel = 1;                 // sequences decoded together (slots)
  int max_queue = 64;               // requests that may wait for a slot; more get 503
  int threads = 0;                  // generation threads; 0 = all cores
  std::int64_t context_length = 0;  // positions per sequence; 0 = the model's, at most 4096
};

class Scheduler {
 public:
  Scheduler(std::shared_ptr<const LanguageModel> lm, SchedulerOptions options);
  ~Scheduler();  // finishes the task in hand, then joins the worker
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Permission to generate; releases its slot when destroyed.
  class Lease {
   public:
    explicit Lease(Scheduler& s) : s_(&s) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { s_->release(); }

   private:
    Scheduler* s_;
  };

  // Waits for a free slot. Throws ApiError 503 (with Retry-After advice)
  // when max_queue requests are already waiting or the server is stopping.
  std::unique_ptr<Lease> acquire();

  // Generates one choice for a tokenized prompt while the caller holds a
  // lease; blocks until it is done (exceptions reach the caller).
  // options.on_text streams (called on the worker thread while the caller
  // waits); generation stops (FinishReason::Cancelled) when it returns false
  // or the server stops.
  Completion generate(const Lease& lease, const std::vector<Token>& prompt, const GenerateOptions& options);

  // Refuses new leases, wakes the waiting requests (they get 503) and
  // cancels the ones generating at their next token.
  void shutdown();
  bool stopping() const noexcept { return stopping_.load(); }

  int queued() const;  // requests waiting for a slot
  int busy() const;    // slots generating
  int parallel() const noexcept { return options_.parallel; }

 private:
  void release();
  void work();
  std::unique_ptr<Batch> new_batch() const;  // the Batch the options describe

  std::shared_ptr<const LanguageModel> lm_;
  SchedulerOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int busy_ = 0;
  int waiting_ = 0;
  std::atomic<bool> stopping_{false};
  // Choices handed to the worker (at most `parallel` at a time: one per lease).
  struct Pending;
  std::deque<std::unique_ptr<Pending>> incoming_;
  std::condition_variable task_cv_;
  bool quit_ = false;
  std::unique_ptr<Batch> batch_;  // used by the worker thread only
  std::thread worker_;
};

}  // namespace gpt::server
