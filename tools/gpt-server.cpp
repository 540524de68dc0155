// gpt-server: the engine behind an OpenAI-compatible HTTP API (and the
// Playground page at /). Run with --help for the flags; src/server/server.h
// lists the routes.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <future>
#include <pthread.h>
#include <thread>

#include <CLI/CLI.hpp>

#include "cli.h"
#include "gpt/generate.h"
#include "server/server.h"

namespace {

namespace fs = std::filesystem;
using gpt::cli::kError, gpt::cli::kOk, gpt::cli::kUsage;

// The model's name in the API: the file name without its extension (the
// folder name for a Hugging Face directory).
std::string model_id(const fs::path& p) {
  fs::path q = p;
  if (q.filename().empty()) q = q.parent_path();
  return fs::is_directory(q) ? q.filename().string() : q.stem().string();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "gpt-server: an OpenAI-compatible HTTP server for one model, with a Playground page at /.\n\n"
      "Routes: POST /v1/completions, /v1/chat/completions, /v1/engines/{engine}/completions,\n"
      "/v1/engines/{engine}/chat/completions; GET /v1/models, /v1/models/{id}, /health, /metrics, /.\n"
      "Model names: the model's id is its file name without the extension, plus every --alias; with one\n"
      "model loaded, a request naming any other model is served by this one and the name is echoed back\n"
      "(as llama-server does). Sampling defaults are OpenAI's (temperature 1, top_p 1); the extensions\n"
      "top_k, min_p, repeat_penalty, repeat_last_n default to off. Fields the engine cannot honour are\n"
      "refused with a 400 naming them.\n\n"
      "Ctrl-C / SIGTERM: stop accepting, cancel generation in flight, exit 0.\n"
      "Exit codes: 0 stopped by a signal; 1 error (model, address in use); 2 invalid command line.",
      "gpt-server"};
  std::string model_path;
  gpt::server::ServerOptions opt;
  app.add_option("-m,--model", model_path, "Model path (default: models/SmolLM2-135M-Instruct.Q4_1.gguf)");
  app.add_option("--host", opt.host, "Address to listen on")->capture_default_str();
  app.add_option("--port", opt.port, "Port to listen on (0 = any free port, printed on stderr)")->capture_default_str();
  app.add_option("-t,--threads", opt.threads, "Generation threads (default: all cores)");
  app.add_option("-c,--ctx-size", opt.context_length, "Context per sequence, prompt + completion (default: the model's, at most 4096)");
  app.add_option("--parallel", opt.parallel,
                 "Sequences decoded together in one forward pass per token (slots); more requests wait in the queue")
      ->capture_default_str();
  app.add_option("--api-key", opt.api_key, "Require 'Authorization: Bearer KEY' on every route but /health and /")
      ->envname("GPT_API_KEY");
  app.add_option("--alias", opt.aliases, "Another model name that /v1/models lists (repeatable)");
  app.add_option("--max-queue", opt.max_queue, "Requests that may wait for a slot; more get 503 with Retry-After")
      ->capture_default_str();
  app.add_option("--timeout", opt.timeout_s, "Socket read/write timeout in seconds")->capture_default_str();
  app.add_option("--max-body", opt.max_body_bytes, "Largest request body in bytes; larger ones get 413")
      ->capture_default_str();
  if (auto code = gpt::cli::parse(app, argc, argv, "gpt-server")) return *code;

  // Signals are taken by one thread with sigwait(); block them in every thread first.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client gone mid-write is an error return, not a signal

  std::unique_ptr<gpt::server::Server> server;
  fs::path path;
  try {
    if (opt.port < 0 || opt.port > 65535) throw gpt::InvalidArgument("--port must be in [0, 65535]");
    if (opt.threads < 0) throw gpt::InvalidArgument("--threads must not be negative");
    if (opt.context_length < 0) throw gpt::InvalidArgument("--ctx-size must not be negative");
    server = std::make_unique<gpt::server::Server>(opt);
    path = model_path.empty() ? gpt::cli::default_model() : fs::path(model_path);
  } catch (const gpt::InvalidArgument& e) {
    std::fprintf(stderr, "gpt-server: %s\n", e.what());
    return kUsage;
  } catch (const gpt::Error& e) {
    std::fprintf(stderr, "gpt-server: %s\n", e.what());
    return kError;
  }

  try {
    server->bind();
  } catch (const gpt::Error& e) {
    std::fprintf(stderr, "gpt-server: %s\n", e.what());
    return kError;
  }
  std::fprintf(stderr, "gpt-server: listening on http://%s:%d/ (loading %s)\n", opt.host.c_str(), server->port(),
               path.string().c_str());
  std::thread http([&] { server->listen(); });

  int code = kOk;
  std::thread loader([&] {
    try {
      const auto t0 = std::chrono::steady_clock::now();
      auto lm = gpt::LanguageModel::load(path);
      server->set_model(lm, model_id(path));
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "gpt-server: model '%s' ready (%.0f ms)\n", model_id(path).c_str(), ms);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "gpt-server: %s\n", e.what());
      code = kError;
      ::kill(::getpid(), SIGTERM);  // wake the signal wait below
    }
  });
  int sig = 0;
  sigwait(&signals, &sig);
  loader.join();
  if (code == kOk) std::fprintf(stderr, "gpt-server: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  // stop() cancels generation at its next token and closes the listening
  // socket; a connection that sends nothing could still hold its HTTP thread
  // until --timeout, so give the threads 10 seconds and then leave anyway.
  std::promise<void> stopped;
  auto done = stopped.get_future();
  std::thread stopper([&] {
    server->stop();
    http.join();
    stopped.set_value();
  });
  if (done.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    std::fprintf(stderr, "gpt-server: connections still open after 10 s; exiting\n");
    std::fflush(stderr);
    std::_Exit(code);
  }
  stopper.join();
  return code;
}
