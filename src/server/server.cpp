// gpt-server's HTTP layer: see server.h. Request semantics live in api.cpp,
// who-runs-when in scheduler.cpp; this file connects them to cpp-httplib.
#include "server/server.h"

#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <sstream>

#include "generate/generation.h"
#include "gpt/error.h"
#include "server/api.h"
#include "server/playground.h"
#include "server/scheduler.h"

namespace gpt::server {

namespace {

// cpp-httplib 0.11 listens with a backlog of 5, fixed inside the compiled
// library. A burst of clients connecting at once overflows that accept queue;
// the kernel then answers with SYN cookies and some of those connections get
// a reset (seen with tools/load-test's 64 clients on a loaded machine).
// Calling listen() again on the bound socket raises the backlog (Linux and
// the BSDs allow it); httplib does not expose the socket, so it is found as
// the listening socket bound to `port`. Best effort: without it the server
// still works, with httplib's backlog.
void widen_listen_backlog(int port) {
  for (int fd = 0; fd < 4096; ++fd) {
    int listening = 0;
    socklen_t len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) continue;
    sockaddr_storage addr{};
    socklen_t alen = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0) continue;
    int bound = -1;
    if (addr.ss_family == AF_INET) bound = ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
    else if (addr.ss_family == AF_INET6) bound = ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
    if (bound == port) ::listen(fd, SOMAXCONN);
  }
}

using Clock = std::chrono::steady_clock;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status();
  if (e.code() == "queue_full" || e.code() == "model_loading") res.set_header("Retry-After", "1");
  res.set_content(dump(error_body(e)), "application/json");
}

// Counters for /metrics (Prometheus text format).
struct Metrics {
  std::mutex mu;
  std::map<int, std::uint64_t> by_status;
  std::atomic<std::uint64_t> prompt_tokens{0}, generated_tokens{0}, cancelled{0};
  std::atomic<std::uint64_t> prompt_us{0}, generate_us{0};

  void count_status(int status) {
    std::lock_guard<std::mutex> lock(mu);
    ++by_status[status];
  }
  void add(const Completion& c) {
    prompt_tokens += static_cast<std::uint64_t>(c.prompt_tokens);
    generated_tokens += static_cast<std::uint64_t>(c.completion_tokens);
    prompt_us += static_cast<std::uint64_t>(c.prompt_ms * 1000.0);
    generate_us += static_cast<std::uint64_t>(c.generate_ms * 1000.0);
  }
};

// One accepted generation request with its tokenized prompts.
struct Job {
  GenerationRequest r;
  std::vector<std::vector<Token>> prompts;
  std::vector<std::string> echo;  // prompt text per prompt when r.echo
  std::string id, model;
  std::int64_t created = 0;
};

}  // namespace

struct Server::Impl {
  ServerOptions opt;
  httplib::Server http;
  std::atomic<bool> ready{false};
  std::shared_ptr<const LanguageModel> lm;
  std::unique_ptr<Scheduler> scheduler;
  std::string model_id, chat_template, chat_template_error;
  ServerLimits limits;
  std::int64_t created = unix_now();
  std::mutex rng_mu;
  std::mt19937_64 rng{std::random_device{}()};
  Metrics metrics;
  int bound_port = -1;

  explicit Impl(ServerOptions o) : opt(std::move(o)) {}

  std::string new_id(const char* prefix) {
    std::lock_guard<std::mutex> lock(rng_mu);
    static const char* hex = "0123456789abcdef";
    std::string id = prefix;
    std::uint64_t a = rng(), b = rng();
    for (int i = 0; i < 16; ++i) id += hex[(a >> (4 * i)) & 15];
    for (int i = 0; i < 8; ++i) id += hex[(b >> (4 * i)) & 15];
    return id;
  }

  std::vector<std::string> model_names() const {
    std::vector<std::string> names{model_id};
    for (const auto& a : opt.aliases)
      if (a != model_id) names.push_back(a);
    return names;
  }

  void routes();
  void generate_route(const httplib::Request& req, httplib::Response& res, Endpoint ep, const std::string& engine);
  std::shared_ptr<Job> make_job(const httplib::Request& req, Endpoint ep, const std::string& engine);
  void run(Job& job, const Scheduler::Lease& lease, const std::function<bool(std::int32_t, const std::string&)>& on_piece,
           const std::function<void(const Choice&)>& on_done, std::vector<Choice>& out, Usage& usage);
  void stream(Job& job, const Scheduler::Lease& lease, httplib::DataSink& sink);
  std::string metrics_text();
};

std::shared_ptr<Job> Server::Impl::make_job(const httplib::Request& req, Endpoint ep, const std::string& engine) {
  const json body = parse_body(req.body);
  auto job = std::make_shared<Job>();
  {
    std::lock_guard<std::mutex> lock(rng_mu);
    job->r = ep == Endpoint::Completions ? parse_completion_request(body, limits, rng, engine)
                                         : parse_chat_request(body, limits, rng, engine);
  }
  const GenerationRequest& r = job->r;
  job->model = r.model.empty() ? model_id : r.model;
  job->created = unix_now();
  job->id = new_id(ep == Endpoint::Completions ? "cmpl-" : "chatcmpl-");
  const Tokenizer& tok = lm->tokenizer();
  // A text that cannot fit is refused before it is tokenized.
  auto fits = [&](const std::string& text, std::size_t extra, const char* param) {
    try {
      detail::check_text_fits(tok, text, extra, limits.context_length);
    } catch (const InvalidArgument& e) {
      throw ApiError(400, e.what(), "invalid_request_error", param, "context_length_exceeded");
    }
  };
  if (ep == Endpoint::Completions) {
    for (const auto& p : r.prompts) {
      if (p.text) {
        const auto& special = tok.special_tokens();
        fits(*p.text, special.prefix.size() + special.suffix.size(), "prompt");
        job->prompts.push_back(tok.encode(*p.text, {.add_special_tokens = true, .parse_special = false}));
        if (job->prompts.back().empty())
          throw ApiError(400, "The prompt is empty and the model adds no BOS token", "invalid_request_error", "prompt");
        if (r.echo) job->echo.push_back(*p.text);
      } else {
        job->prompts.push_back(p.tokens);
        if (r.echo) job->echo.push_back(tok.decode(p.tokens));
      }
    }
  } else {
    if (chat_template.empty())
      throw ApiError(400, "This model cannot chat: " + chat_template_error, "invalid_request_error", "messages");
    std::string text;
    try {
      text = render_chat_template(chat_template, r.messages, true, detail::bos_text(tok), detail::eos_text(tok));
    } catch (const TemplateError& e) {
      throw ApiError(400, std::string("The model's chat template cannot render these messages: ") + e.what(),
                     "invalid_request_error", "messages");
    }
    fits(text, 0, "messages");
    job->prompts.push_back(detail::encode_chat(tok, text));
  }
  for (const auto& p : job->prompts) check_context(static_cast<std::int64_t>(p.size()), r, limits.context_length);
  return job;
}

// Runs every choice of a job in order: prompt p, choice k has index p*n+k and
// seed seed+k (as LanguageModel::complete_n numbers them).
void Server::Impl::run(Job& job, const Scheduler::Lease& lease,
                       const std::function<bool(std::int32_t, const std::string&)>& on_piece,
                       const std::function<void(const Choice&)>& on_done, std::vector<Choice>& out, Usage& usage) {
  const GenerationRequest& r = job.r;
  for (std::size_t p = 0; p < job.prompts.size(); ++p) {
    usage.prompt_tokens += static_cast<std::int64_t>(job.prompts[p].size());
    for (std::int32_t k = 0; k < r.options.n; ++k) {
      Choice ch;
      ch.index = static_cast<std::int32_t>(p) * r.options.n + k;
      if (r.echo) ch.prefix = job.echo[p];
      GenerateOptions o = r.options;
      o.n = 1;
      o.sampling.seed = r.options.sampling.seed + static_cast<std::uint64_t>(k);
      if (on_piece) o.on_text = [&](const std::string& piece) { return on_piece(ch.index, piece); };
      ch.completion = scheduler->generate(lease, job.prompts[p], o);
      metrics.add(ch.completion);
      usage.completion_tokens += ch.completion.completion_tokens;
      const bool cancelled = ch.completion.finish_reason == FinishReason::Cancelled;
      if (!cancelled && on_done) on_done(ch);
      out.push_back(std::move(ch));
      if (cancelled) {
        ++metrics.cancelled;
        return;
      }
    }
  }
}

void Server::Impl::stream(Job& job, const Scheduler::Lease& lease, httplib::DataSink& sink) {
  const GenerationRequest& r = job.r;
  const bool chat = r.endpoint == Endpoint::ChatCompletions;
  bool alive = true;
  auto write = [&](const std::string& s) {
    if (alive && !sink.write(s.data(), s.size())) alive = false;
    return alive;
  };
  const Tokenizer& tok = lm->tokenizer();
  std::int32_t started = -1;  // the choice whose first event has been sent
  auto begin = [&](std::int32_t index) {
    if (started == index) return;
    started = index;
    if (chat) write(sse_event(chat_chunk(job.id, job.created, job.model, index, {{"role", "assistant"}, {"content", ""}}, nullptr)));
    else if (r.echo) write(sse_event(completion_chunk(job.id, job.created, job.model, index, job.echo[std::size_t(index / r.options.n)], nullptr)));
  };
  auto on_piece = [&](std::int32_t index, const std::string& piece) {
    begin(index);
    if (piece.empty()) return alive;
    if (chat) return write(sse_event(chat_chunk(job.id, job.created, job.model, index, {{"content", piece}}, nullptr)));
    return write(sse_event(completion_chunk(job.id, job.created, job.model, index, piece, nullptr)));
  };
  // The last event of a choice carries finish_reason and, when asked, all
  // of its log-probabilities (the library reports them per completion).
  auto on_done = [&](const Choice& ch) {
    begin(ch.index);
    const char* fr = finish_reason(ch.completion.finish_reason);
    if (chat) {
      const json lp = r.chat_logprobs ? chat_logprobs(ch.completion, tok, r.top_logprobs) : json(nullptr);
      write(sse_event(chat_chunk(job.id, job.created, job.model, ch.index, json::object(), fr, lp)));
    } else {
      const json lp = r.options.logprobs >= 0 ? legacy_logprobs(ch.completion, tok, ch.prefix.size()) : json(nullptr);
      write(sse_event(completion_chunk(job.id, job.created, job.model, ch.index, "", fr, lp)));
    }
  };
  std::vector<Choice> choices;
  Usage usage;
  try {
    run(job, lease, on_piece, on_done, choices, usage);
  } catch (const std::exception& e) {
    // Headers are gone: the error travels as an event, as OpenAI's does.
    write(sse_event(error_body(std::string("generation failed: ") + e.what(), "server_error")));
  }
  if (!alive) return;
  if (scheduler->stopping() && !choices.empty() && choices.back().completion.finish_reason == FinishReason::Cancelled)
    write(sse_event(error_body("The server is shutting down; generation was cancelled", "server_error", {},
                               "server_shutting_down")));
  if (r.include_usage)
    write(sse_event(usage_chunk(job.id, job.created, job.model, chat ? "chat.completion.chunk" : "text_completion", usage)));
  write(kSseDone);
}

void Server::Impl::generate_route(const httplib::Request& req, httplib::Response& res, Endpoint ep,
                                  const std::string& engine) {
  std::shared_ptr<Job> job = make_job(req, ep, engine);
  std::shared_ptr<Scheduler::Lease> lease = scheduler->acquire();
  if (job->r.stream) {
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, job, lease](std::size_t, httplib::DataSink& sink) {
          stream(*job, *lease, sink);
          sink.done();
          return true;
        },
        [lease](bool) {});
    return;
  }
  std::vector<Choice> choices;
  Usage usage;
  run(*job, *lease, nullptr, nullptr, choices, usage);
  const Tokenizer& tok = lm->tokenizer();
  const json out = ep == Endpoint::Completions
                       ? completion_response(job->id, job->created, job->model, choices, usage, job->r, tok)
                       : chat_response(job->id, job->created, job->model, choices, usage, job->r, tok);
  res.set_content(dump(out), "application/json");
}

std::string Server::Impl::metrics_text() {
  std::ostringstream m;
  m << "# HELP gpt_requests_total HTTP requests answered, by status code.\n# TYPE gpt_requests_total counter\n";
  {
    std::lock_guard<std::mutex> lock(metrics.mu);
    for (const auto& [status, n] : metrics.by_status) m << "gpt_requests_total{status=\"" << status << "\"} " << n << "\n";
  }
  const double pt = double(metrics.prompt_tokens), gt = double(metrics.generated_tokens);
  const double ps = double(metrics.prompt_us) / 1e6, gs = double(metrics.generate_us) / 1e6;
  auto line = [&](const char* name, const char* type, const char* help, double v) {
    m << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n" << name << " " << v << "\n";
  };
  line("gpt_prompt_tokens_total", "counter", "Prompt tokens processed.", pt);
  line("gpt_tokens_generated_total", "counter", "Tokens generated.", gt);
  line("gpt_prompt_seconds_total", "counter", "Time spent processing prompts.", ps);
  line("gpt_generation_seconds_total", "counter", "Time spent generating.", gs);
  line("gpt_prompt_tokens_per_second", "gauge", "Prompt tokens per second of prompt processing, since start.",
       ps > 0 ? pt / ps : 0.0);
  line("gpt_generation_tokens_per_second", "gauge", "Generated tokens per second of generation, since start.",
       gs > 0 ? gt / gs : 0.0);
  line("gpt_requests_cancelled_total", "counter", "Generations cancelled (client gone or server stopping).",
       double(metrics.cancelled));
  line("gpt_queue_depth", "gauge", "Requests waiting for a slot.", scheduler ? scheduler->queued() : 0);
  line("gpt_busy_slots", "gauge", "Slots generating.", scheduler ? scheduler->busy() : 0);
  line("gpt_slots", "gauge", "Slots (--parallel).", opt.parallel);
  return m.str();
}

void Server::Impl::routes() {
  // Authentication and readiness come before any route.
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    if (!opt.api_key.empty() && !(req.method == "GET" && req.path == "/")) {
      const std::string h = req.get_header_value("Authorization");
      const std::string prefix = "Bearer ";
      const std::string given = h.compare(0, prefix.size(), prefix) == 0 ? h.substr(prefix.size()) : std::string();
      if (!keys_equal(given, opt.api_key)) {
        send_error(res, ApiError(401, h.empty() ? "You didn't provide an API key (Authorization: Bearer KEY)"
                                                : "Incorrect API key provided",
                                 "invalid_request_error", {}, "invalid_api_key"));
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    if (!ready && req.path != "/") {
      send_error(res, ApiError(503, "Loading model", "unavailable_error", {}, "model_loading"));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  auto guarded = [this](auto&& body) {
    return [this, body](const httplib::Request& req, httplib::Response& res) {
      try {
        body(req, res);
      } catch (const ApiError& e) {
        send_error(res, e);
      } catch (const TemplateError& e) {
        send_error(res, ApiError(400, e.what()));
      } catch (const InvalidArgument& e) {
        send_error(res, ApiError(400, e.what()));
      } catch (const std::bad_alloc&) {
        send_error(res, ApiError(500, "out of memory", "server_error"));
      } catch (const std::exception& e) {
        send_error(res, ApiError(500, std::string("internal error: ") + e.what(), "server_error"));
      }
    };
  };

  auto completions = [this](Endpoint ep) {
    return [this, ep](const httplib::Request& req, httplib::Response& res) {
      generate_route(req, res, ep, req.matches.size() > 1 ? std::string(req.matches[1]) : std::string());
    };
  };
  http.Post("/v1/completions", guarded(completions(Endpoint::Completions)));
  http.Post("/v1/chat/completions", guarded(completions(Endpoint::ChatCompletions)));
  http.Post(R"(/v1/engines/([^/]+)/completions)", guarded(completions(Endpoint::Completions)));
  http.Post(R"(/v1/engines/([^/]+)/chat/completions)", guarded(completions(Endpoint::ChatCompletions)));

  auto model_json = [this](const std::string& name) {
    return json{{"id", name}, {"object", "model"}, {"created", created}, {"owned_by", "gpt"}};
  };
  http.Get("/v1/models", guarded([this, model_json](const httplib::Request&, httplib::Response& res) {
    json data = json::array();
    for (const auto& n : model_names()) data.push_back(model_json(n));
    res.set_content(dump({{"object", "list"}, {"data", data}}), "application/json");
  }));
  http.Get(R"(/v1/models/(.+))", guarded([this, model_json](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    for (const auto& n : model_names())
      if (n == id) return res.set_content(dump(model_json(n)), "application/json");
    throw ApiError(404, "The model '" + id + "' does not exist", "invalid_request_error", "model", "model_not_found");
  }));
  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    if (ready) return res.set_content(R"({"status":"ok"})", "application/json");
    send_error(res, ApiError(503, "Loading model", "unavailable_error", {}, "model_loading"));
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_text(), "text/plain; version=0.0.4");
  });
  http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(playground_html(), "text/html; charset=utf-8");
  });

  // Bodies for the errors httplib answers itself (404 no route, 413 too
  // large, 400 unreadable request...).
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404)
      send_error(res, ApiError(404, "Invalid URL (" + req.method + " " + req.path + ")", "invalid_request_error", {},
                               "unknown_url"));
    else if (res.status == 413 && req.get_header_value("Content-Type") == "application/x-www-form-urlencoded")
      // cpp-httplib caps form bodies at 8 KiB whatever the payload limit (curl -d sends this type).
      send_error(res, ApiError(413, "The request body is too large for Content-Type application/x-www-form-urlencoded "
                                    "(8 KiB); send it as application/json",
                               "invalid_request_error", {}, "request_too_large"));
    else if (res.status == 413)
      send_error(res, ApiError(413, "The request body is too large", "invalid_request_error", {}, "request_too_large"));
    else
      send_error(res, ApiError(res.status, "HTTP error " + std::to_string(res.status), "invalid_request_error"));
  });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    send_error(res, ApiError(500, "internal error", "server_error"));
  });
  http.set_logger([this](const httplib::Request&, const httplib::Response& res) { metrics.count_status(res.status); });
}

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  Impl& s = *impl_;
  if (s.opt.parallel < 1) throw InvalidArgument("--parallel must be at least 1");
  if (s.opt.max_queue < 0) throw InvalidArgument("--max-queue must not be negative");
  if (s.opt.timeout_s < 1) throw InvalidArgument("--timeout must be at least 1 second");
  // One HTTP thread per connection that may be waiting or generating, plus
  // room for /health, /metrics and quick errors.
  const std::size_t threads = static_cast<std::size_t>(s.opt.max_queue + s.opt.parallel) + 8;
  s.http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.http.set_read_timeout(s.opt.timeout_s, 0);
  s.http.set_write_timeout(s.opt.timeout_s, 0);
  s.http.set_payload_max_length(s.opt.max_body_bytes);
  // One request per connection ("Connection: close"): cpp-httplib 0.11 waits
  // for an idle keep-alive connection's next request line with the full read
  // timeout, which would hold up stop() by --timeout seconds.
  s.http.set_keep_alive_max_count(1);
  // How long a new connection may take to send its request (cpp-httplib's
  // default, 5 s, drops slow clients of a loaded machine with a reset).
  s.http.set_keep_alive_timeout(std::min(s.opt.timeout_s, 30));
  s.routes();
}

Server::~Server() = default;

void Server::bind() {
  Impl& s = *impl_;
  if (s.opt.port == 0) {
    s.bound_port = s.http.bind_to_any_port(s.opt.host);
    if (s.bound_port < 0) throw IoError(s.opt.host, "cannot listen on any port");
  } else {
    if (!s.http.bind_to_port(s.opt.host, s.opt.port))
      throw IoError(s.opt.host + ":" + std::to_string(s.opt.port), "cannot listen (address in use or not available)");
    s.bound_port = s.opt.port;
  }
  widen_listen_backlog(s.bound_port);
}

int Server::port() const noexcept { return impl_->bound_port; }

void Server::listen() { impl_->http.listen_after_bind(); }

void Server::set_model(std::shared_ptr<const LanguageModel> lm, const std::string& id) {
  Impl& s = *impl_;
  const std::int64_t model_ctx = lm->model().config().max_seq_len;
  if (s.opt.context_length > model_ctx)
    throw InvalidArgument("--ctx-size " + std::to_string(s.opt.context_length) + " exceeds the model's " +
                          std::to_string(model_ctx));
  s.limits.context_length = s.opt.context_length > 0 ? s.opt.context_length : std::min<std::int64_t>(model_ctx, 4096);
  s.limits.threads = s.opt.threads;
  s.limits.vocab_size = lm->tokenizer().vocab_size();
  try {
    s.chat_template = lm->chat_template();
  } catch (const Error& e) {
    s.chat_template_error = e.what();
  }
  s.scheduler = std::make_unique<Scheduler>(
      lm, SchedulerOptions{s.opt.parallel, s.opt.max_queue, s.opt.threads, s.limits.context_length});
  s.lm = std::move(lm);
  s.model_id = id;
  s.ready = true;
}

void Server::stop() {
  if (impl_->scheduler) impl_->scheduler->shutdown();
  impl_->http.stop();
}

}  // namespace gpt::server
