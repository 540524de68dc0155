// Run-time choice of the kernels' instruction-set level (internal to src/).
//
// The library is built for baseline x86-64; the hot kernels are built three
// times (kernels/isa/kernels_isa.cpp): scalar (baseline), avx2 (AVX2 + FMA +
// F16C) and avx512 (AVX-512 F/BW/VL/DQ + VNNI). The first call picks the
// widest level the CPU supports, or the one the environment variable GPT_ISA
// names (scalar, avx2, avx512), once per process. Every level gives the same
// bits for the dot-product kernels (see kernels_isa.cpp); the f32 GEMM of
// prompt processing (float weights, kHalfGemmTokens tokens or more) may differ
// in the last bits between levels.
#pragma once

#include <vector>

#include "kernels/isa/table.h"

namespace gpt::kernels {

enum class Isa {
  Auto,    // the process-wide choice (GPT_ISA, else the widest the CPU supports)
  Scalar,  // baseline x86-64
  Avx2,    // AVX2 + FMA + F16C
  Avx512,  // AVX-512 F, BW, VL, DQ and VNNI
};

// "auto", "scalar", "avx2", "avx512".
const char* isa_name(Isa isa) noexcept;

// Whether this CPU (and its operating system) can run the level; Auto and
// Scalar always.
bool cpu_supports(Isa isa) noexcept;

// The levels this CPU supports, narrowest first (Scalar first).
std::vector<Isa> supported_isas();

// The level for a value of GPT_ISA (nullptr or empty: the widest this CPU
// supports). Throws InvalidArgument for an unknown name or a level this CPU
// lacks.
Isa choose_isa(const char* gpt_isa_env);

// The process-wide level: choose_isa(getenv("GPT_ISA")), on first use. Throws InvalidArgument when
// GPT_ISA names no level, or one this CPU lacks.
Isa active_isa();

// The kernels of a level (Auto: active_isa()). Throws InvalidArgument for a
// level this CPU lacks.
const isa::Table& isa_table(Isa isa = Isa::Auto);

}  // namespace gpt::kernels
