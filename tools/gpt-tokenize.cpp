// gpt-tokenize: prints the token ids of a text for any tokenizer the library loads
// (a Hugging Face directory, tokenizer.json, tokenizer.model, vocab.json, or .gguf).
//
//   gpt-tokenize -m models/SmolLM2-135M-Instruct.Q4_1.gguf "Hello world"
//   echo "Hello" | gpt-tokenize -m path/to/hf-dir --pieces
//   gpt-tokenize tokenizer.model -f input.txt --add-special   (model as the first positional argument)
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "cli.h"
#include "gpt/error.h"
#include "gpt/tokenizer.h"
#include "tokenizer/utf8.h"

namespace {

// Shows a piece with control characters escaped, one token per line.
std::string printable(const std::string& s) {
  std::string o;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      int n = gpt::tok::utf8_char(s, i);
      if (n > 0) {
        o.append(s, i, static_cast<std::size_t>(n));
        i += static_cast<std::size_t>(n) - 1;
        continue;
      }
    }
    if (c == '\n') o += "\\n";
    else if (c == '\t') o += "\\t";
    else if (c == '\r') o += "\\r";
    else if (c < 0x20 || c >= 0x7F) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02X", c);
      o += b;
    } else {
      o += static_cast<char>(c);
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gpt-tokenize: print the token ids of a text (argument, --file, or standard input).\n"
               "Exit codes: 0 success, 1 error (unreadable or corrupt tokenizer, I/O), 2 invalid command line.",
               "gpt-tokenize"};
  std::string model, text, file;
  std::vector<std::string> positional;
  bool pieces = false, parse_special = false, add_special = false, info = false, decode = false;
  app.add_option("-m,--model", model,
                 "Tokenizer or model: a Hugging Face directory, tokenizer.json, tokenizer.model, vocab.json "
                 "(merges.txt beside it) or a .gguf file");
  app.add_option("args", positional,
                 "[MODEL] [TEXT]: without -m the first is the model; TEXT is the text to encode (default: read "
                 "--file or standard input)");
  app.add_option("-f,--file", file, "Read the text from this file");
  app.add_flag("-p,--pieces", pieces, "Print one token per line: id, vocabulary piece and decoded text");
  app.add_flag("-s,--parse-special", parse_special,
               "Recognise special-token text such as <|im_start|> in the input (off: it is plain text)");
  app.add_flag("-a,--add-special", add_special, "Add the model's BOS/EOS as its configuration says");
  app.add_flag("-d,--decode", decode, "Treat the text as space-separated ids and print the decoded text");
  app.add_flag("-i,--info", info, "Print the tokenizer's kind, vocabulary size and special tokens first");
  if (auto code = gpt::cli::parse(app, argc, argv, "gpt-tokenize")) return *code;
  std::size_t next = 0;
  if (model.empty() && next < positional.size()) model = positional[next++];
  bool have_text = false;
  if (next < positional.size()) text = positional[next++], have_text = true;
  if (model.empty() || next < positional.size()) {
    std::fprintf(stderr, "gpt-tokenize: %s (see --help)\n",
                 model.empty() ? "no model: give -m MODEL" : "too many arguments: quote the text to encode");
    return gpt::cli::kUsage;
  }
  if (have_text && !file.empty()) {
    std::fprintf(stderr, "gpt-tokenize: give the text either as an argument or with --file, not both\n");
    return gpt::cli::kUsage;
  }

  try {
    auto tok = gpt::load_tokenizer(model);
    if (info) {
      std::cout << "kind: " << tok->kind() << "\nvocab_size: " << tok->vocab_size() << "\nbos: " << tok->bos_id()
                << "\neos:";
      for (auto e : tok->eos_ids()) std::cout << ' ' << e;
      std::cout << "\npad: " << tok->special_tokens().pad << "\nunk: " << tok->special_tokens().unk
                << "\nadded_tokens: " << tok->added_tokens().size()
                << "\nchat_template: " << (tok->chat_template().empty() ? "no" : "yes") << "\n";
    }
    if (!have_text) {
      std::ostringstream ss;
      if (!file.empty()) {
        std::ifstream f(file, std::ios::binary);
        if (!f) throw gpt::IoError(file, "cannot open file");
        ss << f.rdbuf();
      } else if (!info) {
        ss << std::cin.rdbuf();
      }
      text = ss.str();
      if (info && file.empty()) return 0;
    }
    if (decode) {
      std::vector<gpt::Token> ids;
      std::istringstream in(text);
      long long v;
      while (in >> v) ids.push_back(static_cast<gpt::Token>(v));
      if (!in.eof()) {
        std::fprintf(stderr, "gpt-tokenize: --decode expects integer ids separated by spaces\n");
        return gpt::cli::kUsage;
      }
      std::cout << tok->decode(ids) << "\n";
      return 0;
    }
    const auto ids = tok->encode(text, {.add_special_tokens = add_special, .parse_special = parse_special});
    if (pieces) {
      for (auto id : ids)
        std::cout << id << '\t' << printable(tok->token_to_piece(id)) << '\t' << printable(tok->token_bytes(id))
                  << '\n';
    } else {
      for (std::size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
      std::cout << '\n';
    }
  } catch (const gpt::Error& e) {
    std::cerr << "gpt-tokenize: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "gpt-tokenize: unexpected error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
