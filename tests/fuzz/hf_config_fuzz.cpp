// libFuzzer harness: gpt::fuzz::hf_config (tests/fuzz/targets.h says what the input is).
#include "fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gpt::fuzz::hf_config({data, size});
  return 0;
}
