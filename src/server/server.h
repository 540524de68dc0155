// gpt-server's HTTP layer: the OpenAI routes on cpp-httplib.
//
//   gpt::server::Server s(options);
//   s.bind();                                  // listens; /health says 503 "loading"
//   std::thread t([&] { s.listen(); });
//   s.set_model(gpt::LanguageModel::load(path), "SmolLM2-135M-Instruct.Q4_1");
//   ...                                        // serve until
//   s.stop();                                  // from any thread (the signal thread)
//   t.join();
//
// Routes: POST /v1/completions, /v1/chat/completions,
// /v1/engines/{engine}/completions, /v1/engines/{engine}/chat/completions;
// GET /v1/models, /v1/models/{id}, /health, /metrics, / (the Playground).
// Model names: the model's id and its aliases are listed; with one model
// loaded, a request naming any other model is served by it and the name is
// echoed back (as llama-server does).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gpt/generate.h"

namespace gpt::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                            // 0 = any free port (see Server::port())
  std::string api_key;                        // empty = no authentication
  std::vector<std::string> aliases;           // more names listed by /v1/models
  int parallel = 4;                           // sequences decoded together (gpt::Batch)
  int max_queue = 64;                         // requests waiting for a slot; more get 503
  int timeout_s = 600;                        // socket read/write timeout
  int threads = 0;                            // generation threads; 0 = all cores
  std::int64_t context_length = 0;            // tokens per sequence; 0 = the model's, at most 4096
  std::size_t max_body_bytes = 8u << 20;      // larger bodies get 413
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port. Throws IoError when the address cannot be bound.
  void bind();
  int port() const noexcept;
  // Serves until stop(); call after bind(), on its own thread.
  void listen();
  // Makes the server ready (until then generation routes and /health say
  // 503). Throws InvalidArgument for options the model cannot honour.
  void set_model(std::shared_ptr<const LanguageModel> lm, const std::string& id);
  // Stops accepting, cancels generation in flight and makes listen() return.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpt::server
