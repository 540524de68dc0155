// The run-time choice of instruction-set level (isa.h).
#include <cpuid.h>

#include <cstdlib>
#include <string>

#include "gpt/cpu.h"
#include "gpt/error.h"
#include "kernels/isa.h"

namespace gpt::kernels {

namespace {

// F16C (CPUID leaf 1, ECX bit 29): some compilers' __builtin_cpu_supports
// does not know the name. (__builtin_cpu_supports("avx2") checks that the
// operating system saves the YMM state.) Read once: isa_table() checks the
// level on every matrix product, and CPUID is slow (in a virtual machine it
// traps to the hypervisor; measured at 17 % of decoding time when it ran per
// call).
bool has_f16c() noexcept {
  static const bool yes = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __get_cpuid(1, &a, &b, &c, &d) != 0 && (c & (1u << 29)) != 0;
  }();
  return yes;
}

}  // namespace

Isa choose_isa(const char* env) {
  if (env == nullptr || *env == '\0') {
    if (cpu_supports(Isa::Avx512)) return Isa::Avx512;
    if (cpu_supports(Isa::Avx2)) return Isa::Avx2;
    return Isa::Scalar;
  }
  const std::string want(env);
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    if (want != isa_name(isa)) continue;
    if (!cpu_supports(isa))
      throw InvalidArgument("GPT_ISA=" + want + " asks for " + want + " kernels, which this CPU does not support " +
                            "(it supports: " + cpu_isa_list() + ")");
    return isa;
  }
  throw InvalidArgument("GPT_ISA=" + want + " is not a kernel level (use scalar, avx2 or avx512, or unset it)");
}

const char* isa_name(Isa isa) noexcept {
  switch (isa) {
    case Isa::Auto: return "auto";
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

bool cpu_supports(Isa isa) noexcept {
  switch (isa) {
    case Isa::Auto:
    case Isa::Scalar: return true;
    case Isa::Avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c();
    case Isa::Avx512:
      return cpu_supports(Isa::Avx2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vnni");
  }
  return false;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> v;
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512})
    if (cpu_supports(isa)) v.push_back(isa);
  return v;
}

Isa active_isa() {
  static const Isa isa = choose_isa(std::getenv("GPT_ISA"));  // a throw leaves it unset: the next call throws again
  return isa;
}

const isa::Table& isa_table(Isa isa) {
  if (isa == Isa::Auto) isa = active_isa();
  if (!cpu_supports(isa))
    throw InvalidArgument(std::string("kernels: this CPU does not support the ") + isa_name(isa) + " kernels");
  switch (isa) {
    case Isa::Avx512: return isa::avx512_table();
    case Isa::Avx2: return isa::avx2_table();
    default: return isa::scalar_table();
  }
}

}  // namespace gpt::kernels

namespace gpt {

std::string kernel_isa() { return kernels::isa_name(kernels::active_isa()); }

std::string cpu_isa_list() {
  std::string s;
  for (kernels::Isa isa : kernels::supported_isas()) s += (s.empty() ? "" : ", ") + std::string(kernels::isa_name(isa));
  return s;
}

}  // namespace gpt
