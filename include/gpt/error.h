// Typed exceptions thrown by the library. The library never calls exit() or
// abort(); every failure a caller can cause (bad arguments, unsupported or
// malformed checkpoints) is reported as one of these.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

namespace gpt {

// Base class of every exception the library throws on purpose.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A caller passed a value outside its documented range (a token id past the
// vocabulary, a negative temperature, more tokens than the context holds...).
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

// The checkpoint is well formed but describes something the engine does not
// run (an unknown model_type, an unsupported tensor type, ...).
class UnsupportedModel : public Error {
 public:
  using Error::Error;
};

// A file could not be opened or read.
class IoError : public Error {
 public:
  IoError(std::string path, const std::string& message)
      : Error(path + ": " + message), path_(std::move(path)) {}
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

// A file is malformed: truncated, inconsistent, out-of-range offsets, a tensor
// with the wrong shape or type. Carries the file, and where known the byte
// offset and the tensor concerned; what() reads
//   "<path>: tensor '<name>': <message> (at byte <offset>)".
class FormatError : public Error {
 public:
  FormatError(std::string path, const std::string& message,
              std::optional<std::uint64_t> offset = std::nullopt, std::string tensor = {})
      : Error(compose(path, message, offset, tensor)),
        path_(std::move(path)),
        offset_(offset),
        tensor_(std::move(tensor)) {}

  const std::string& path() const noexcept { return path_; }
  std::optional<std::uint64_t> offset() const noexcept { return offset_; }
  const std::string& tensor() const noexcept { return tensor_; }

 private:
  static std::string compose(const std::string& path, const std::string& message,
                             std::optional<std::uint64_t> offset, const std::string& tensor) {
    std::string s = path + ": ";
    if (!tensor.empty()) s += "tensor '" + tensor + "': ";
    s += message;
    if (offset) s += " (at byte " + std::to_string(*offset) + ")";
    return s;
  }

  std::string path_;
  std::optional<std::uint64_t> offset_;
  std::string tensor_;
};

// A chat template could not be rendered. kind() says why: the text is not
// valid Jinja (Syntax); it uses a Jinja feature this renderer does not have,
// named in the message (Unsupported); the template itself raised an error
// with raise_exception, e.g. for roles that do not alternate (Raised); an
// operation failed as it would in Python (Runtime: an undefined value used,
// a type error); or it exceeded a bound on output size, work or nesting depth
// (Limit).
class TemplateError : public Error {
 public:
  enum class Kind { Syntax, Unsupported, Raised, Runtime, Limit };
  TemplateError(Kind kind, const std::string& message) : Error(message), kind_(kind) {}
  Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

// A GBNF grammar could not be parsed or compiled. line() and column() (both
// from 1; the column counts bytes) say where; what() reads
//   "grammar:<line>:<column>: <message>".
class GrammarError : public Error {
 public:
  GrammarError(int line, int column, const std::string& message)
      : Error("grammar:" + std::to_string(line) + ":" + std::to_string(column) + ": " + message),
        line_(line),
        column_(column) {}
  int line() const noexcept { return line_; }
  int column() const noexcept { return column_; }

 private:
  int line_;
  int column_;
};

// A JSON Schema could not be turned into a grammar: it is not valid JSON, is
// malformed, or uses a keyword the converter does not support (never silently
// dropped). keyword() names the keyword (empty when none applies) and
// pointer() the JSON Pointer of the schema object concerned ("" = the root).
class SchemaError : public Error {
 public:
  SchemaError(std::string keyword, std::string pointer, const std::string& message)
      : Error("JSON schema at '" + pointer + "'" + (keyword.empty() ? std::string() : " (keyword '" + keyword + "')") +
              ": " + message),
        keyword_(std::move(keyword)),
        pointer_(std::move(pointer)) {}
  const std::string& keyword() const noexcept { return keyword_; }
  const std::string& pointer() const noexcept { return pointer_; }

 private:
  std::string keyword_;
  std::string pointer_;
};

}  // namespace gpt
