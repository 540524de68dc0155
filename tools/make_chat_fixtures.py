#!/usr/bin/env python3
"""Builds the chat-template fixtures in tests/data/chat/.

Run from the repository root with the project's Python environment:

    python tools/make_chat_fixtures.py [--models models]

It writes
  templates/NAME.jinja   the official Jinja chat templates, verbatim (see TEMPLATES
                         for where each comes from); smollm2.jinja is read from the
                         GGUF file's tokenizer.chat_template when that file is present,
                         otherwise the stored copy is kept
  expected.json          every conversation in CONVERSATIONS rendered with every
                         template, with and without add_generation_prompt, by
                         transformers' apply_chat_template; a case whose template
                         raises records "error" instead of "output"

The renderer is transformers itself (apply_chat_template with chat_template=...),
on a throw-away fast tokenizer whose bos_token / eos_token are the strings the
model family uses. tests/generate/chat_template_test.cpp checks gpt::render_chat
against expected.json byte for byte.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, "tests", "data", "chat")
SMOL = "SmolLM2-135M-Instruct.Q4_1.gguf"

# name -> (format, bos, eos, source, template text). Real newlines in the text are
# newlines of the original template; "\\n" inside a Jinja string literal is the
# original's escape sequence.
TEMPLATES = {
    "chatml": (
        "chatml", "", "",
        "teknium/OpenHermes-2.5-Mistral-7B tokenizer_config.json (plain ChatML, no default system turn)",
        r"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
    ),
    "llama2": (
        "llama2", "<s>", "</s>",
        "meta-llama/Llama-2-7b-chat-hf tokenizer_config.json",
        r"{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
    ),
    "llama3": (
        "llama3", "<|begin_of_text|>", "<|eot_id|>",
        "meta-llama/Meta-Llama-3-8B-Instruct tokenizer_config.json",
        "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
    ),
    "gemma": (
        "gemma", "<bos>", "<eos>",
        "google/gemma-3-*-it chat template (text part; system folded into the first user turn)",
        """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
""",
    ),
    "gemma2": (
        "gemma", "<bos>", "<eos>",
        "google/gemma-2-9b-it tokenizer_config.json; it rejects a system message, which gpt's Gemma format "
        "folds into the first user turn as Gemma 3 does, so its raising cases are not compared",
        "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}",
    ),
    "zephyr": (
        "zephyr", "<s>", "</s>",
        "HuggingFaceH4/zephyr-7b-beta tokenizer_config.json",
        "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}",
    ),
    "mistral": (
        "mistral", "<s>", "</s>",
        "mistralai/Mistral-7B-Instruct-v0.2 tokenizer_config.json, Mistral's 'v1' template with an "
        "optional system message prepended to the first user turn",
        "{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content'] %}\n    {%- set loop_messages = messages[1:] %}\n{%- else %}\n    {%- set loop_messages = messages %}\n{%- endif %}\n\n{{- bos_token }}\n{%- for message in loop_messages %}\n    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}\n    {%- endif %}\n    {%- if message['role'] == 'user' %}\n        {%- if loop.first and system_message is defined %}\n            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}\n        {%- else %}\n            {{- ' [INST] ' + message['content'] + ' [/INST]' }}\n        {%- endif %}\n    {%- elif message['role'] == 'assistant' %}\n        {{- ' ' + message['content'] + eos_token}}\n    {%- else %}\n        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}\n    {%- endif %}\n{%- endfor %}\n",
    ),
    # Filled from the GGUF (tokenizer.chat_template) or the stored copy.
    "smollm2": (
        "chatml", "<|im_start|>", "<|im_end|>",
        "HuggingFaceTB/SmolLM2-135M-Instruct (GGUF tokenizer.chat_template); ChatML with a default system turn",
        None,
    ),
}

# The default system message each template adds when the conversation has none.
DEFAULT_SYSTEM = {"smollm2": "You are a helpful AI assistant named SmolLM, trained by Hugging Face"}

# Templates stricter than gpt's format: where they raise, gpt renders (see their source note).
LENIENT = {"gemma2"}

S, U, A = "system", "user", "assistant"
CONVERSATIONS = {
    "system_user": [(S, "You are a helpful assistant."), (U, "Hello!")],
    "user_only": [(U, "What is the capital of France?")],
    "multi_turn_system": [(S, "Be brief."), (U, "Hi"), (A, "Hello! How can I help?"), (U, "Tell me a joke.")],
    "multi_turn": [(U, "Hello"), (A, "Hi there"), (U, "Who are you"), (A, "   I am an assistant   "),
                   (U, "Another question")],
    "ends_with_assistant": [(U, "2+2?"), (A, "4")],
    "unicode": [(S, "Réponds en français 🙂"), (U, "  Ça va ? 你好，世界！\u3000\n"),
                (A, "\u00a0Très bien — merci ! ✨\t"), (U, "Ελληνικά: αβγ 🚀\u2028")],
    "whitespace": [(S, "  padded system  "), (U, "\n\n  spaced out \t\n"), (A, "\r\n answer \x0b"), (U, "\x1f\x85x\u200b ")],
    "empty_content": [(S, ""), (U, "")],
    "system_only": [(S, "Only a system prompt.")],
    "user_user": [(U, "first"), (U, "second")],
    "assistant_first": [(A, "I speak first."), (U, "ok")],
}


def smollm2_template(models):
    path = os.path.join(models, SMOL)
    stored = os.path.join(OUT, "templates", "smollm2.jinja")
    if os.path.exists(path):
        import gguf
        r = gguf.GGUFReader(path)
        f = r.fields["tokenizer.chat_template"]
        return bytes(f.parts[f.data[0]]).decode("utf-8")
    if os.path.exists(stored):
        print(f"{path} not found; keeping {stored}", file=sys.stderr)
        with open(stored, encoding="utf-8") as fh:
            return fh.read()
    sys.exit(f"need {path} (tools/fetch-model) or a stored {stored}")


def make_tokenizer(bos, eos):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast
    vocab = {"<unk>": 0}
    for t in (bos, eos):
        if t and t not in vocab:
            vocab[t] = len(vocab)
    kwargs = {}
    if bos:
        kwargs["bos_token"] = bos
    if eos:
        kwargs["eos_token"] = eos
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer(WordLevel(vocab, unk_token="<unk>")),
                                   unk_token="<unk>", **kwargs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=os.path.join(ROOT, "models"))
    args = ap.parse_args()

    os.makedirs(os.path.join(OUT, "templates"), exist_ok=True)
    templates = {}
    cases = []
    for name, (fmt, bos, eos, source, text) in TEMPLATES.items():
        if text is None:
            text = smollm2_template(args.models)
        with open(os.path.join(OUT, "templates", name + ".jinja"), "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        templates[name] = {"file": f"templates/{name}.jinja", "format": fmt, "bos": bos, "eos": eos,
                           "default_system": DEFAULT_SYSTEM.get(name, ""), "source": source,
                           "compare_errors": name not in LENIENT}
        tok = make_tokenizer(bos, eos)
        for conv, msgs in CONVERSATIONS.items():
            messages = [{"role": r, "content": c} for r, c in msgs]
            for agp in (False, True):
                case = {"template": name, "conversation": conv, "add_generation_prompt": agp}
                try:
                    case["output"] = tok.apply_chat_template(messages, chat_template=text, tokenize=False,
                                                             add_generation_prompt=agp)
                except Exception as e:  # the template raised (raise_exception, undefined value)
                    case["error"] = f"{type(e).__name__}: {e}"
                cases.append(case)

    doc = {
        "generator": "tools/make_chat_fixtures.py",
        "templates": templates,
        "conversations": {k: [{"role": r, "content": c} for r, c in v] for k, v in CONVERSATIONS.items()},
        "cases": cases,
    }
    with open(os.path.join(OUT, "expected.json"), "w", encoding="utf-8") as fh:
        json.dump(doc, fh, ensure_ascii=False, indent=1)
        fh.write("\n")
    n_err = sum("error" in c for c in cases)
    print(f"wrote {len(templates)} templates, {len(cases)} cases ({n_err} raise) to {OUT}")


if __name__ == "__main__":
    main()
