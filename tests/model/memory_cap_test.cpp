// SessionOptions::max_memory_bytes: a forward() whose KV cache plus scratch
// would pass the cap is refused with InvalidArgument before allocating, and
// the session is unchanged; 0 lifts the cap.
#include <gtest/gtest.h>

#include <vector>

#include "gpt/error.h"
#include "gpt/session.h"
#include "test_util.h"

namespace gpt {
namespace {

TEST(MemoryCap, ForwardPastTheCapIsATypedErrorAndLeavesTheSessionUsable) {
  auto model = Model::load(test::data_path("models/llama"));
  // The tiny Llama: 2 layers x 2 KV heads x 16 dims -> 512 bytes of cache per position.
  Session s(model, {.context_length = 128, .threads = 1, .max_memory_bytes = 64 * 1024});
  const std::vector<Token> few(4, 1), many(100, 1);
  EXPECT_NO_THROW(s.forward(few));
  try {
    s.forward(many);
    ADD_FAILURE() << "no error past the cap";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("max_memory_bytes"), std::string::npos) << e.what();
  }
  EXPECT_EQ(s.position(), 4);
  EXPECT_NO_THROW(s.forward(few));

  Session unlimited(model, {.context_length = 128, .threads = 1, .max_memory_bytes = 0});
  EXPECT_NO_THROW(unlimited.forward(many));
  // The default cap (16 GiB) does not get in the way of ordinary use.
  Session dflt(model, {.context_length = 128, .threads = 1});
  EXPECT_NO_THROW(dflt.forward(many));
}

}  // namespace
}  // namespace gpt
