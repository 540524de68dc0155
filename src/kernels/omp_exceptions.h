// Carrying exceptions out of OpenMP regions. An exception that leaves a
// parallel region's structured block terminates the program, so every body
// that can throw (an allocation, a typed error) runs through capture(); the
// first exception is kept, the remaining iterations are skipped, and the
// caller rethrows it once the region has ended:
//
//   OmpExceptions errors;
//   #pragma omp parallel for
//   for (...) errors.capture([&] { body; });
//   errors.rethrow();
#pragma once

#include <atomic>
#include <exception>

namespace gpt::kernels {

class OmpExceptions {
 public:
  template <typename F>
  void capture(F&& f) noexcept {
    if (failed_.load(std::memory_order_relaxed)) return;
    try {
      f();
    } catch (...) {
#pragma omp critical(gpt_omp_exceptions)
      {
        if (!error_) error_ = std::current_exception();
      }
      failed_.store(true, std::memory_order_relaxed);
    }
  }
  // Rethrows the first captured exception, if any (call after the region).
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::exception_ptr error_;
  std::atomic<bool> failed_{false};
};

}  // namespace gpt::kernels
