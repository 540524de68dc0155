// The Playground page served at GET /: one self-contained HTML file
// (src/server/playground.html, CSS and JavaScript inline, nothing fetched
// from the network), embedded in the binary at build time.
#pragma once

#include <string>

namespace gpt::server {

const std::string& playground_html();

}  // namespace gpt::server
