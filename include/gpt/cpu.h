// Which kernels this process runs.
//
// libgpt is built for baseline x86-64 and carries its hot kernels in three
// versions: "scalar" (any x86-64), "avx2" (AVX2 + FMA + F16C) and "avx512"
// (AVX-512 F/BW/VL/DQ + VNNI). The widest one the CPU supports is chosen once
// per process, at the first model load or kernel call; the environment
// variable GPT_ISA=scalar|avx2|avx512 forces one. Every version gives the same
// bits for the dot products of decoding and of quantized weights; only the
// f32 GEMM used for prompts on float weights may differ in the last bits.
#pragma once

#include <string>

namespace gpt {

// The version in use ("scalar", "avx2" or "avx512"), choosing it if not done
// yet. Throws InvalidArgument when GPT_ISA names an unknown version or one
// this CPU does not support.
std::string kernel_isa();

// The versions this CPU supports, e.g. "scalar, avx2, avx512".
std::string cpu_isa_list();

}  // namespace gpt
