// libFuzzer harness: gpt::fuzz::gguf (tests/fuzz/targets.h says what the input is).
#include "fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gpt::fuzz::gguf({data, size});
  return 0;
}
