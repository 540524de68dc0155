// The request scheduler: see scheduler.h.
#include "server/scheduler.h"

#include <future>
#include <map>

#include "gpt/error.h"
#include "server/api.h"

namespace gpt::server {

struct Scheduler::Pending {
  std::vector<Token> prompt;
  GenerateOptions options;
  std::promise<Completion> done;
};

Scheduler::Scheduler(std::shared_ptr<const LanguageModel> lm, SchedulerOptions options)
    : lm_(std::move(lm)), options_(options) {
  if (!lm_) throw InvalidArgument("the scheduler needs a model");
  if (options_.parallel < 1) throw InvalidArgument("--parallel must be at least 1");
  if (options_.max_queue < 0) throw InvalidArgument("--max-queue must not be negative");
  batch_ = new_batch();
  worker_ = std::thread([this] { work(); });
}

std::unique_ptr<Batch> Scheduler::new_batch() const {
  return std::make_unique<Batch>(lm_, BatchOptions{.threads = options_.threads,
                                                   .max_sequences = options_.parallel,
                                                   .context_length = options_.context_length});
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
  std::map<Batch::Id, std::unique_ptr<Pending>> active;
  for (;;) {
    std::deque<std::unique_ptr<Pending>> in;
    {
      std::unique_lock<std::mutex> lock(mu_);
      task_cv_.wait(lock, [&] { return quit_ || !incoming_.empty() || !active.empty(); });
      if (quit_ && incoming_.empty() && active.empty()) return;
      in.swap(incoming_);
    }
    for (auto& p : in) {
      try {
        const Batch::Id id = batch_->submit(p->prompt, p->options).at(0);
        active.emplace(id, std::move(p));
      } catch (...) {
        p->done.set_exception(std::current_exception());
      }
    }
    if (active.empty()) continue;
    try {
      batch_->step();
    } catch (...) {  // a failed forward pass fails every sequence in it
      const auto error = std::current_exception();
      for (auto& [id, p] : active) {
        batch_->cancel(id);
        p->done.set_exception(error);
      }
      active.clear();
      batch_ = new_batch();  // a fresh pool: nothing of the failed step survives
      continue;
    }
    for (auto it = active.begin(); it != active.end();) {
      if (!batch_->finished(it->first)) {
        ++it;
        continue;
      }
      try {
        it->second->done.set_value(batch_->take(it->first));
      } catch (...) {
        it->second->done.set_exception(std::current_exception());
      }
      it = active.erase(it);
    }
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
  auto p = std::make_unique<Pending>();
  p->prompt = prompt;
  p->options = options;
  p->options.n = 1;
  const StreamCallback user = options.on_text;
  p->options.on_text = [this, user](const std::string& piece) {
    if (stopping_) return false;
    return user ? user(piece) : true;
  };
  std::future<Completion> done = p->done.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (quit_) throw ApiError(503, "The server is shutting down", "server_error", {}, "server_shutting_down");
    incoming_.push_back(std::move(p));
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
