// The request scheduler: see scheduler.h.
#include "server/scheduler.h"

#include <future>

#include "gpt/error.h"
#include "server/api.h"

namespace gpt::server {

Scheduler::Scheduler(std::shared_ptr<const LanguageModel> lm, SchedulerOptions options)
    : lm_(std::move(lm)), options_(options) {
  if (!lm_) throw InvalidArgument("the scheduler needs a model");
  if (options_.parallel != 1)
    throw InvalidArgument("--parallel " + std::to_string(options_.parallel) +
                          ": only 1 sequence at a time until batched decoding lands");
  if (options_.max_queue < 0) throw InvalidArgument("--max-queue must not be negative");
  worker_ = std::thread([this] { work(); });
}

Scheduler::~Scheduler() {
  shutdown();
  {
    std::lock_guard<std::mutex> lock(mu_);
    quit_ = true;
  }
  task_cv_.notify_all();
  worker_.join();
}

void Scheduler::work() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      task_cv_.wait(lock, [&] { return quit_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // quit_ and nothing left
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();  // a packaged_task: its exceptions go to the waiting caller
  }
}

std::unique_ptr<Scheduler::Lease> Scheduler::acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) throw ApiError(503, "The server is shutting down", "server_error", {}, "server_shutting_down");
  if (busy_ >= options_.parallel) {
    if (waiting_ >= options_.max_queue)
      throw ApiError(503, "The server is busy: " + std::to_string(waiting_) +
                              " requests are already waiting (--max-queue); retry later",
                     "server_error", {}, "queue_full");
    ++waiting_;
    cv_.wait(lock, [&] { return stopping_ || busy_ < options_.parallel; });
    --waiting_;
    if (stopping_) throw ApiError(503, "The server is shutting down", "server_error", {}, "server_shutting_down");
  }
  ++busy_;
  return std::make_unique<Lease>(*this);
}

void Scheduler::release() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    --busy_;
  }
  cv_.notify_one();
}

Completion Scheduler::generate(const Lease&, const std::vector<Token>& prompt, const GenerateOptions& options) {
  GenerateOptions o = options;
  o.n = 1;
  const StreamCallback user = options.on_text;
  o.on_text = [this, user](const std::string& piece) {
    if (stopping_) return false;
    return user ? user(piece) : true;
  };
  std::packaged_task<Completion()> task([this, &prompt, &o] { return lm_->complete_tokens(prompt, o); });
  std::future<Completion> done = task.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (quit_) throw ApiError(503, "The server is shutting down", "server_error", {}, "server_shutting_down");
    tasks_.emplace_back([&task] { task(); });
  }
  task_cv_.notify_one();
  return done.get();
}

void Scheduler::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
}

int Scheduler::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiting_;
}

int Scheduler::busy() const {
  std::lock_guard<std::mutex> lock(mu_);
  return busy_;
}

}  // namespace gpt::server
