// gpt-generate: text generation and chat from the command line.
// Text streams to stdout; load time and speeds go to stderr (--quiet silences
// them). Run with --help for every option and the exit codes.
#include <algorithm>
#include <filesystem>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "attention_map.h"
#include "cli.h"
#include "gpt/generate.h"
#include "gpt/gpt.h"

namespace {

namespace fs = std::filesystem;
using gpt::cli::kError, gpt::cli::kOk, gpt::cli::kUsage;

std::string read_all(std::istream& in) {
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void print_stats(const gpt::Completion& c, double load_ms) {
  auto rate = [](std::int64_t n, double ms) { return ms > 0 ? 1000.0 * double(n) / ms : 0.0; };
  std::fprintf(stderr, "\n[load %.0f ms | prompt %lld tokens, %.1f tok/s | generated %lld tokens, %.1f tok/s | %s]\n",
               load_ms, static_cast<long long>(c.prompt_tokens), rate(c.prompt_tokens, c.prompt_ms),
               static_cast<long long>(c.completion_tokens), rate(c.completion_tokens, c.generate_ms),
               gpt::to_string(c.finish_reason));
}

nlohmann::json to_json(const gpt::Completion& c, const gpt::Tokenizer& tok) {
  nlohmann::json j{{"text", c.text},
                   {"tokens", c.tokens},
                   {"finish_reason", gpt::to_string(c.finish_reason)},
                   {"prompt_tokens", c.prompt_tokens},
                   {"completion_tokens", c.completion_tokens},
                   {"prompt_ms", c.prompt_ms},
                   {"generate_ms", c.generate_ms}};
  if (!c.logprobs.empty()) {
    nlohmann::json lp = nlohmann::json::array();
    for (const auto& e : c.logprobs) {
      nlohmann::json top = nlohmann::json::array();
      for (const auto& [id, v] : e.top) top.push_back({{"token", id}, {"text", tok.token_bytes(id)}, {"logprob", v}});
      lp.push_back({{"token", e.token}, {"text", e.text}, {"logprob", e.logprob}, {"top", top}});
    }
    j["logprobs"] = lp;
  }
  return j;
}

// --attention-map: the prompt and the generated tokens run again through a
// session that keeps the attention probabilities (the same logits as the
// generation's, which fed them in pieces), written as a page or JSON.
void write_attention_map(const std::string& file, const gpt::LanguageModel& lm, const gpt::Completion& c,
                         const fs::path& model_path, int threads, bool quiet) {
  std::vector<gpt::Token> all = c.prompt_ids;
  all.insert(all.end(), c.tokens.begin(), c.tokens.end());
  constexpr std::size_t kMaxTokens = 512;
  if (all.size() > kMaxTokens)
    throw gpt::InvalidArgument("--attention-map: " + std::to_string(all.size()) + " tokens; at most " +
                               std::to_string(kMaxTokens) + " fit in a page (use a shorter prompt or -n)");
  gpt::SessionOptions so;
  so.context_length = static_cast<std::int64_t>(all.size());
  so.threads = threads;
  so.capture_attention = true;
  gpt::Session s(lm.model_ptr(), so);
  s.forward(all);
  gpt::cli::AttentionMapInput in;
  in.title = model_path.filename().string();
  for (gpt::Token t : all) in.labels.push_back(lm.tokenizer().decode(std::vector<gpt::Token>{t}));
  in.n_prompt = static_cast<std::int64_t>(c.prompt_ids.size());
  in.n_layer = lm.model().config().n_layer;
  in.n_head = lm.model().config().n_head;
  in.maps = &s.attention();
  if (fs::path(file).extension() == ".json") gpt::cli::write_attention_json(file, in);
  else gpt::cli::write_attention_html(file, in);
  if (!quiet)
    std::fprintf(stderr, "[attention map of %zu tokens, %lld layers x %lld heads: %s]\n", all.size(),
                 static_cast<long long>(in.n_layer), static_cast<long long>(in.n_head), file.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "gpt-generate: generate text or chat with a GPT-style model (GGUF, Hugging Face directory or .safetensors).\n"
      "The prompt comes from -p, -f, or standard input when neither is given. Text streams to stdout;\n"
      "load time and speeds go to stderr.\n\n"
      "Exit codes: 0 success; 1 error (missing or corrupt model, prompt longer than the context, I/O);\n"
      "2 invalid command line or option value.",
      "gpt-generate"};
  std::string model_path, prompt, prompt_file, system_prompt, chat_template;
  gpt::GenerateOptions opt;
  opt.max_tokens = 256;
  std::int64_t seed = -1;
  int threads = 0;
  bool chat = false, json = false, quiet = false;
  std::int64_t ctx = 0;
  app.add_option("-m,--model", model_path, "Model path (default: models/SmolLM2-135M-Instruct.Q4_1.gguf, see tools/fetch-model)");
  app.add_option("-p,--prompt", prompt, "Prompt text");
  app.add_option("-f,--file", prompt_file, "Read the prompt from this file");
  app.add_option("-n,--max-tokens", opt.max_tokens, "Maximum new tokens")->capture_default_str();
  app.add_option("--temp", opt.sampling.temperature, "Temperature; 0 = greedy")->capture_default_str();
  app.add_option("--top-k", opt.sampling.top_k, "Keep the k most likely tokens; 0 = off")->capture_default_str();
  app.add_option("--top-p", opt.sampling.top_p, "Nucleus sampling mass, in (0, 1]; 1 = off")->capture_default_str();
  app.add_option("--min-p", opt.sampling.min_p, "Drop tokens below min-p x the top probability; 0 = off")->capture_default_str();
  app.add_option("--repeat-penalty", opt.sampling.repetition_penalty, "Repetition penalty; 1 = off")->capture_default_str();
  app.add_option("--presence-penalty", opt.sampling.presence_penalty, "Presence penalty")->capture_default_str();
  app.add_option("--frequency-penalty", opt.sampling.frequency_penalty, "Frequency penalty")->capture_default_str();
  app.add_option("--repeat-last-n", opt.sampling.penalty_last_n, "Tokens the penalties look back; -1 = all")->capture_default_str();
  app.add_option("--seed", seed, "Random seed (default: a random one, printed with the stats)");
  app.add_option("-t,--threads", threads, "Threads (default: all cores)");
  app.add_option("-c,--ctx-size", ctx, "Context length (default: the model's, at most 4096)");
  app.add_option("--stop", opt.stop, "Stop string (repeatable); not included in the output");
  app.add_option("--completions", opt.n, "Number of completions, decoded together sharing the prompt (the first streams, the others follow; seeds seed, seed+1, ...)")->capture_default_str();
  app.add_flag("--ignore-eos", opt.ignore_eos, "Keep generating after end-of-sequence tokens");
  app.add_flag("--chat", chat, "Chat through the model's chat template: interactive when stdin is a terminal and no -p/-f is given; otherwise one turn");
  app.add_option("--system", system_prompt, "System message for --chat");
  app.add_option("--chat-template", chat_template, "Override the chat template: chatml, llama2, llama3, gemma, zephyr, mistral, or a Jinja file");
  app.add_flag("--json", json, "Print one JSON object (text, tokens, finish reason, counts, timings) instead of streaming");
  app.add_option("--logprobs", opt.logprobs, "With --json: each token's log-probability and this many alternatives (0-20)");
  std::string grammar, grammar_file, json_schema;
  bool json_object = false;
  app.add_option("--grammar", grammar, "Constrain the output to a GBNF grammar (text; rule 'root' is the start)");
  app.add_option("--grammar-file", grammar_file, "Constrain the output to the GBNF grammar in this file");
  app.add_option("--json-schema", json_schema, "Constrain the output to JSON valid for this JSON Schema (text, or @FILE)");
  app.add_flag("--json-object", json_object, "Constrain the output to one JSON object");
  app.add_flag("-q,--quiet", quiet, "No load time or speeds on stderr");
  std::string attention_map;
  app.add_option("--attention-map", attention_map,
                 "After generating, write what the model attended to: FILE.html (a self-contained page: heatmap per "
                 "layer and head, head average, one token across layers) or FILE.json (probabilities). One "
                 "completion, non-interactive; at most 512 tokens in all");
  if (auto code = gpt::cli::parse(app, argc, argv, "gpt-generate")) return *code;

  try {
    opt.threads = threads;
    opt.context_length = ctx;
    opt.sampling.seed = seed >= 0 ? static_cast<std::uint64_t>(seed) : std::random_device{}();
    if (!prompt.empty() && !prompt_file.empty()) throw gpt::InvalidArgument("give either -p or -f, not both");
    if (opt.logprobs >= 0 && !json) throw gpt::InvalidArgument("--logprobs needs --json");
    if (opt.n > 1 && chat) throw gpt::InvalidArgument("--completions is for plain completions, not --chat");
    if (!attention_map.empty()) {
      const fs::path ext = fs::path(attention_map).extension();
      if (ext != ".html" && ext != ".json") throw gpt::InvalidArgument("--attention-map needs a .html or .json file name");
      if (opt.n > 1) throw gpt::InvalidArgument("--attention-map is for one completion (not --completions)");
    }
    if (threads < 0) throw gpt::InvalidArgument("--threads must not be negative");
    if (ctx < 0) throw gpt::InvalidArgument("--ctx-size must not be negative");
    // Check option values before the (slower) model load.
    opt.sampling.validate();
    if (opt.max_tokens < 0) throw gpt::InvalidArgument("--max-tokens must not be negative");
    if (opt.n < 1) throw gpt::InvalidArgument("--completions must be at least 1");
    if (opt.logprobs > 20) throw gpt::InvalidArgument("--logprobs must be at most 20");
    for (const auto& s : opt.stop)
      if (s.empty()) throw gpt::InvalidArgument("--stop needs a non-empty string");
    if (int(!grammar.empty()) + int(!grammar_file.empty()) + int(!json_schema.empty()) + int(json_object) > 1)
      throw gpt::InvalidArgument("give at most one of --grammar, --grammar-file, --json-schema, --json-object");
    if (!grammar_file.empty()) {
      std::ifstream in(grammar_file, std::ios::binary);
      if (!in) throw gpt::InvalidArgument("--grammar-file '" + grammar_file + "' cannot be read");
      grammar = read_all(in);
    }
    if (!json_schema.empty() && json_schema[0] == '@') {
      std::ifstream in(json_schema.substr(1), std::ios::binary);
      if (!in) throw gpt::InvalidArgument("--json-schema file '" + json_schema.substr(1) + "' cannot be read");
      json_schema = read_all(in);
    }
    if (!json_schema.empty()) grammar = gpt::json_schema_to_grammar(json_schema);
    if (json_object) grammar = gpt::json_object_grammar();
    if (!grammar.empty()) gpt::check_grammar(grammar);
    opt.grammar = grammar;
    if (!chat_template.empty() && !gpt::builtin_chat_template(chat_template) &&
        !std::filesystem::is_regular_file(chat_template))
      throw gpt::InvalidArgument("--chat-template '" + chat_template +
                                 "' is neither a known template (chatml, llama2, llama3, gemma, zephyr, mistral) nor a file");
  } catch (const gpt::InvalidArgument& e) {
    std::fprintf(stderr, "gpt-generate: %s\n", e.what());
    return kUsage;
  } catch (const gpt::GrammarError& e) {
    std::fprintf(stderr, "gpt-generate: %s\n", e.what());
    return kUsage;
  } catch (const gpt::SchemaError& e) {
    std::fprintf(stderr, "gpt-generate: %s\n", e.what());
    return kUsage;
  }

  try {
    const bool tty_in = ::isatty(STDIN_FILENO) != 0;
    const bool interactive = chat && prompt.empty() && prompt_file.empty() && tty_in && !json && attention_map.empty();
    if (!prompt_file.empty()) {
      std::ifstream in(prompt_file, std::ios::binary);
      if (!in) throw gpt::IoError(prompt_file, "cannot read the prompt file");
      prompt = read_all(in);
    } else if (prompt.empty() && !interactive) {
      if (tty_in) std::fprintf(stderr, "gpt-generate: reading the prompt from the terminal; end it with Ctrl-D\n");
      prompt = read_all(std::cin);
    }

    const auto t0 = std::chrono::steady_clock::now();
    const fs::path path = model_path.empty() ? gpt::cli::default_model() : fs::path(model_path);
    auto lm = gpt::LanguageModel::load(path);
    const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!quiet)
      std::fprintf(stderr, "[%s: %s, %lld layers, d_model %lld, loaded in %.0f ms, seed %llu, kernels %s]\n",
                   path.filename().c_str(), lm->model().config().architecture.c_str(),
                   static_cast<long long>(lm->model().config().n_layer),
                   static_cast<long long>(lm->model().config().d_model), load_ms,
                   static_cast<unsigned long long>(opt.sampling.seed), gpt::kernel_isa().c_str());

    if (!json)
      opt.on_text = [](const std::string& piece) {
        if (!piece.empty()) {
          std::fwrite(piece.data(), 1, piece.size(), stdout);
          std::fflush(stdout);
        }
        return true;
      };

    if (interactive) {
      gpt::ChatSession session(lm, opt, chat_template, system_prompt);
      std::string line;
      for (;;) {
        std::fprintf(stderr, "\n> ");
        if (!std::getline(std::cin, line)) break;
        if (line.empty()) continue;
        const gpt::Completion c = session.send(line);
        std::fputc('\n', stdout);
        if (!quiet) print_stats(c, load_ms);
      }
      return kOk;
    }

    std::vector<gpt::Completion> results;
    if (chat) {
      std::vector<gpt::ChatMessage> messages;
      if (!system_prompt.empty()) messages.push_back({"system", system_prompt});
      messages.push_back({"user", prompt});
      results.push_back(lm->chat(messages, opt, chat_template));
    } else {
      // With --completions N the N are decoded together (gpt::Batch): the
      // first streams, the others are printed after it.
      results = lm->complete_n(prompt, opt);
      if (opt.n > 1 && !json)
        for (std::size_t k = 1; k < results.size(); ++k) std::printf("\n----\n%s", results[k].text.c_str());
    }
    if (!attention_map.empty()) write_attention_map(attention_map, *lm, results.front(), path, threads, quiet);
    if (json) {
      nlohmann::json out{{"model", path.string()}, {"seed", opt.sampling.seed}, {"load_ms", load_ms}};
      out["choices"] = nlohmann::json::array();
      for (const auto& c : results) out["choices"].push_back(to_json(c, lm->tokenizer()));
      const auto& first = out["choices"][0];
      for (const char* k : {"text", "tokens", "finish_reason", "prompt_tokens", "completion_tokens", "prompt_ms", "generate_ms"})
        out[k] = first[k];
      std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
    } else {
      std::fputc('\n', stdout);
      if (!quiet) print_stats(results.front(), load_ms);
      if (!quiet && results.size() > 1) {
        std::int64_t generated = 0;
        double ms = 0;
        for (const auto& c : results) {
          generated += c.completion_tokens;
          ms = std::max(ms, c.generate_ms);
        }
        std::fprintf(stderr,
                     "[%zu completions decoded together: the prompt's %lld tokens computed once in %.0f ms and shared "
                     "by all | %lld tokens generated in %.0f ms, %.1f tok/s in all]\n",
                     results.size(), static_cast<long long>(results.front().prompt_tokens), results.front().prompt_ms,
                     static_cast<long long>(generated), ms, ms > 0 ? 1000.0 * double(generated) / ms : 0.0);
      }
    }
  } catch (const gpt::InvalidArgument& e) {
    std::fprintf(stderr, "gpt-generate: %s\n", e.what());
    return kError;
  } catch (const gpt::Error& e) {
    std::fprintf(stderr, "gpt-generate: %s\n", e.what());
    return kError;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gpt-generate: unexpected error: %s\n", e.what());
    return kError;
  }
  return kOk;
}
