// bench-kernels: times matmul over quantized and 16-bit float weights next to
// f32 (Eigen) on the same dequantized values, for generation (1 token), small
// batch (4 tokens) and prompt (128 tokens) shapes. K-quants use 512 in place
// of 576 (rows must be whole 256-blocks).
//
// Usage: bench-kernels [TYPE ...]   (default: Q4_1 Q8_0 Q4_K Q6_K F16 BF16)
// Prints one line per (type, shape, tokens, threads): best-of milliseconds per
// call and effective GFLOP/s (2*out*in*tokens / time).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gpt/error.h"
#include "kernels/half.h"
#include "kernels/kernels.h"
#include "kernels/parallel.h"
#include "kernels/quant.h"

namespace {

using gpt::DType;
namespace k = gpt::kernels;

std::vector<std::byte> random_weights(DType t, std::int64_t rows, std::int64_t cols, std::mt19937& rng) {
  const auto& info = gpt::dtype_info(t);
  const std::size_t nbytes = gpt::dtype_bytes(t, rows * cols);
  std::vector<std::byte> w(nbytes);
  if (t == DType::F16 || t == DType::BF16) {  // finite values of a typical size
    std::normal_distribution<float> nd(0.0f, 0.05f);
    for (std::size_t i = 0; i < nbytes / 2; ++i) {
      const float v = nd(rng);
      const std::uint16_t h = t == DType::F16 ? k::f32_to_f16(v) : k::f32_to_bf16(v);
      std::memcpy(&w[2 * i], &h, 2);
    }
    return w;
  }
  for (auto& b : w) b = static_cast<std::byte>(rng() & 0xFF);
  const std::uint16_t d = k::f32_to_f16(0.01f);
  for (std::size_t b = 0; b < nbytes / info.block_bytes; ++b) {
    const std::size_t at = b * info.block_bytes + (t == DType::Q6_K ? 208 : 0);
    std::memcpy(&w[at], &d, 2);
    if (t == DType::Q4_1 || t == DType::Q5_1 || t == DType::Q4_K || t == DType::Q5_K)
      std::memcpy(&w[at + 2], &d, 2);
  }
  return w;
}

template <typename Fn>
double best_ms(Fn&& fn) {
  fn();  // warm up
  double best = 1e30, total = 0;
  for (int i = 0; i < 1000 && (total < 300.0 || i < 5); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    best = std::min(best, ms);
    total += ms;
  }
  return best;
}

DType parse_type(const std::string& s) {
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q4_K, DType::Q5_K,
                  DType::Q6_K, DType::F16, DType::BF16})
    if (gpt::dtype_name(t) == s) return t;
  throw gpt::InvalidArgument("unknown type '" + s + "' (Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K F16 BF16)");
}

}  // namespace

int main(int argc, char** argv) try {
  std::vector<DType> types;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "-h" || std::string(argv[i]) == "--help") {
      std::printf("usage: bench-kernels [TYPE ...]   (default: Q4_1 Q8_0 Q4_K Q6_K F16 BF16)\n"
                  "Exit codes: 0 success, 1 error, 2 invalid command line.\n");
      return 0;
    }
    try {
      types.push_back(parse_type(argv[i]));
    } catch (const gpt::InvalidArgument& e) {
      std::fprintf(stderr, "bench-kernels: %s\n", e.what());
      return 2;
    }
  }
  if (types.empty()) types = {DType::Q4_1, DType::Q8_0, DType::Q4_K, DType::Q6_K, DType::F16, DType::BF16};
  std::printf("threads %d; f16/bf16 kernels: %s\n", k::default_threads(), k::half_path_name());
  std::printf("%-5s %-11s %6s %7s %10s %9s %10s %9s\n", "type", "out x in", "tokens", "threads", "type ms",
              "GFLOP/s", "f32 ms", "GFLOP/s");
  std::mt19937 rng(1);
  // SmolLM2-135M's MLP shapes; K-quants need rows of 256, so 512 stands in for 576.
  const std::pair<std::int64_t, std::int64_t> shapes[] = {{1536, 576}, {576, 1536}};
  const std::pair<std::int64_t, std::int64_t> k_shapes[] = {{1536, 512}, {512, 1536}};
  for (DType t : types) {
    for (auto [out, in] : gpt::dtype_info(t).block_elems == 256 ? k_shapes : shapes) {
      auto wq = random_weights(t, out, in, rng);
      gpt::TensorView w{"w", t, {out, in}, wq.data(), wq.size()};
      std::vector<float> wf(static_cast<std::size_t>(out * in));
      for (std::int64_t o = 0; o < out; ++o)
        k::dequantize_row(t, wq.data() + o * gpt::dtype_bytes(t, in), wf.data() + o * in, in);
      gpt::TensorView wf32{"wf", DType::F32, {out, in}, reinterpret_cast<const std::byte*>(wf.data()),
                           wf.size() * 4};
      for (std::int64_t n : {1, 4, 128}) {
        std::vector<float> x(static_cast<std::size_t>(n * in)), y(static_cast<std::size_t>(n * out));
        std::normal_distribution<float> nd;
        for (auto& v : x) v = nd(rng);
        for (int threads : {1, 2}) {
          const double q = best_ms([&] { k::matmul(w, x.data(), n, y.data(), threads); });
          const double f = best_ms([&] { k::matmul(wf32, x.data(), n, y.data(), threads); });
          const double flop = 2.0 * out * in * n;
          std::printf("%-5s %4lldx%-6lld %6lld %7d %10.4f %9.2f %10.4f %9.2f\n",
                      std::string(gpt::dtype_name(t)).c_str(), static_cast<long long>(out),
                      static_cast<long long>(in), static_cast<long long>(n), threads, q, flop / q / 1e6, f,
                      flop / f / 1e6);
        }
      }
    }
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench-kernels: %s\n", e.what());
  return 1;
}
