// JSON Schema -> GBNF (json_schema_to_grammar, json_object_grammar in
// gpt/generate.h). Each schema object becomes a rule; $ref targets become
// named rules (so recursive schemas work); identical rule bodies are shared.
// Every keyword is either handled, an annotation that does not constrain
// (title, description, default, examples, $schema, $id, $comment), or
// refused with SchemaError naming it, so the grammar never allows a value the
// schema forbids.
#pragma once

#include <string>
#include <string_view>

namespace gpt::detail {

// text as a GBNF string literal, quotes included ("a\"b" for a"b).
std::string gbnf_literal(std::string_view text);

}  // namespace gpt::detail
