// Embeds src/server/playground.html (CMake writes it into playground.inc as
// a raw string literal at configure time; editing the page reconfigures).
#include "server/playground.h"

namespace gpt::server {

const std::string& playground_html() {
  static const std::string page =
#include "server/playground.inc"
      ;
  return page;
}

}  // namespace gpt::server
