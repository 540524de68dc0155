#!/usr/bin/env python3
"""Writes tests/data/chat/jinja_cases.json: real chat templates rendered by
transformers' own chat-template code, for tests/generate/jinja_test.cpp.

The templates are the collection llama.cpp keeps under models/templates/,
read from the llama-cpp-python source distribution that
tools/fetch-llamacpp-sources downloads, verifies and unpacks. They are not
ours: the fixture records, per template, only its file name, family, length
in bytes and 64-bit FNV-1a hash (the test reads the text from the same
unpacked sdist and checks both before use), plus the expected outputs:

  python3 -m venv .venv
  .venv/bin/pip install transformers jinja2
  tools/fetch-llamacpp-sources
  .venv/bin/python tools/make_chat_template_fixtures.py [TEMPLATES_DIR]

TEMPLATES_DIR defaults to where tools/fetch-llamacpp-sources unpacks them:
$GPT_CACHE_DIR/llamacpp-0.3.36/src/vendor/llama.cpp/models/templates
(GPT_CACHE_DIR defaults to ~/.cache/gpt).

Keys of a case: t (template index), c (conversation index), g
(add_generation_prompt), then either error, or out (the output), or from /
bytes / out (the first `bytes` UTF-8 bytes of case `from`'s output followed
by out). Every template is rendered on every conversation below with
add_generation_prompt false and true by
transformers.utils.chat_template_utils.render_jinja_template (what
apply_chat_template calls), with strftime_now frozen at FIXED_NOW. A case
where transformers raises is recorded as {"error": <message>}; our renderer
must then throw a typed error too. Each conversation is stored once; cases
refer to it by index. An output that shares a prefix with an earlier output
of the same template stores the earlier case's index, the prefix length in
UTF-8 bytes and the rest (see compress()).

The small "unit" templates (UNITS below) are our own and are stored with
their text.
"""
import datetime
import json
import os
import sys
from pathlib import Path

import transformers.utils.chat_template_utils as ctu

FIXED_NOW = datetime.datetime(2025, 3, 4, 10, 20, 30)


class _FrozenDatetime(datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return FIXED_NOW


ctu.datetime = _FrozenDatetime  # strftime_now() reads ctu.datetime.now()

CONTEXT = {"bos_token": "<BOS>", "eos_token": "<EOS>"}

U = lambda c: {"role": "user", "content": c}  # noqa: E731
A = lambda c: {"role": "assistant", "content": c}  # noqa: E731
S = lambda c: {"role": "system", "content": c}  # noqa: E731

CONVERSATIONS = [
    [U("Hello!")],
    [S("You are a terse assistant."), U("What is 2+2?")],
    [U("Hi"), A("Hello! How can I help?"), U("Tell me a joke.")],
    [S("Be kind."), U("Hi"), A("Hello."), U("Bye"), A("Goodbye!")],
    [U("")],
    [S(""), U("Question?")],
    [U("Привет, мир! 你好 🌍 café — naïve Σίσυφος"), A("Ça va? ½ ∑ 日本語")],
    [U("  Leading and trailing spaces  \n\nSecond paragraph\n")],
    [U("Quotes 'single' \"double\" \\backslash {{ braces }} {% tag %} <b>html</b> & amp")],
    [A("I start the conversation."), U("OK.")],
    [U("First"), U("Second user in a row")],
    [S("System only.")],
    [S("Sys"), U("a"), A("b"), U("c"), A("d"), U("e"), A("f"), U("g")],
    [U("Tab\there, newline\nthere, JSON {\"k\": [1, 2]}")],
]

# Template file name prefix -> model family.
FAMILIES = [
    ("Apertus", "Apertus"), ("Apriel", "Apriel"), ("unsloth-Apriel", "Apriel"), ("Bielik", "Bielik"),
    ("ByteDance-Seed", "Seed-OSS"), ("Cohere", "Command-R"), ("CohereForAI", "Command-R"), ("GLM", "GLM"),
    ("GigaChat", "GigaChat"), ("HuggingFaceTB-SmolLM3", "SmolLM3"), ("Kimi", "Kimi"), ("moonshotai-Kimi", "Kimi"),
    ("LFM2", "LFM2"), ("MiMo", "MiMo"), ("MiniMax", "MiniMax"), ("Mistral", "Mistral"),
    ("mistralai", "Mistral"), ("unsloth-mistral", "Mistral"), ("NVIDIA-Nemotron", "Nemotron"),
    ("NousResearch-Hermes", "Hermes"), ("Qwen", "Qwen"), ("Reka", "Reka"), ("Spark", "Spark"),
    ("StepFun", "StepFun"), ("deepseek-ai-DeepSeek-R1-Distill-Llama", "DeepSeek-R1-Distill"),
    ("deepseek-ai-DeepSeek-R1-Distill-Qwen", "DeepSeek-R1-Distill"), ("deepseek-ai", "DeepSeek"),
    ("llama-cpp-deepseek", "DeepSeek"), ("fireworks-ai", "Firefunction"), ("google-gemma", "Gemma"),
    ("ibm-granite", "Granite"), ("inclusionai-ling", "Ling"), ("llama-cpp-rwkv", "RWKV"),
    ("meetkai-functionary", "Functionary"), ("meta-llama", "Llama"), ("microsoft-Phi", "Phi"),
    ("muse", "Muse"), ("openai-gpt-oss", "gpt-oss"), ("openbmb-MiniCPM", "MiniCPM"), ("poolside-Laguna", "Laguna"),
    ("tencent-Hy", "Hunyuan"), ("upstage-Solar", "Solar"),
]


# Small templates, one feature or two each, for the unit tests of the
# language subset; rendered by the same transformers code.
UNIT_DATA = {
    "s": "  Hello, World  ", "u": "Grüße, мир 你好", "n": 7, "f": 2.5, "xs": [3, 1, 2], "e": [], "none": None,
    "h": "<a & 'b' \"c\">",
    "d": {"b": 2, "a": 1, "c": {"x": [1, "two", None, True, 1.5]}},
    "msgs": [{"role": "system", "content": "S"}, {"role": "user", "content": "U1"},
             {"role": "assistant", "content": "A1"}, {"role": "user", "content": "U2"}],
}
UNITS = [
    "{{ 1 + 2 * 3 - 4 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7 / 7 }} {{ 1e20 }} {{ 0.1 + 0.2 }}",
    "{{ 'a' ~ 1 ~ none ~ true ~ 2.0 }} {{ 'ab' * 3 }} {{ [1] + [2, 'x'] }} {{ (1, 'a') }} {{ (1,) }}",
    "{{ xs }} {{ d }} {{ e }} {{ none }} {{ undefined_name }}|{{ d.c }} {{ 'it\\'s' }} {{ \"q\" }}",
    "{{ s[2:7] }}|{{ s[::-1] }}|{{ u[::-1] }}|{{ u[3] }}|{{ u[-2:] }}|{{ xs[-1] }}|{{ xs[::2] }}|{{ xs[5] }}",
    "{{ s|trim }}|{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ 'xxhixx'.strip('x') }}|{{ s|length }}|{{ u|length }}",
    "{{ s|upper }} {{ s|lower }} {{ 'hello wORLD-foo(bar'|title }} {{ 'hello wORLD'.title() }} {{ 'hELLO'|capitalize }}",
    "{{ u|upper }} {{ u|lower }}",
    "{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a,b,c'.rsplit(',', 1) }}",
    "{{ s.startswith('  He') }} {{ s.endswith(('x', '  ')) }} {{ 'abcabc'.replace('b', 'X') }} {{ 'abcabc'|replace('b', 'X', 1) }}",
    "{{ 'abcabc'.find('c') }} {{ u.find('мир') }} {{ 'abc'.find('z') }} {{ 'a-b'.join(['x', 'y']) }} {{ xs|join(', ') }}",
    "{{ '{} and {name}'.format(1, name='two') }} {{ 'x=%s y=%d' % ('a', 3) }} {{ '%s'|format('z') }}",
    "{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.first }}{{ loop.last }}{{ loop.length }}"
    "{{ loop.previtem }}/{{ loop.nextitem }};{% endfor %}",
    "{% for x in xs if x > 1 %}{{ x }}{{ loop.length }}{% else %}none{% endfor %}|{% for x in e %}{{ x }}{% else %}empty{% endfor %}",
    "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{% for k in d %}{{ k }}{% endfor %}|{% for k, v in d|dictsort %}{{ k }}{% endfor %}",
    "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}",
    "{% for x in xs %}{{ loop.cycle('a', 'b') }}{% endfor %} {{ range(3)|list }} {{ range(1, 10, 3)|list }}",
    "{% set x = 1 %}{% for i in xs %}{% set x = i %}{% endfor %}{{ x }}|{% set ns = namespace(v=0) %}{% for i in xs %}{% set ns.v = ns.v + i %}{% endfor %}{{ ns.v }}",
    "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t %}block {{ a }}{% endset %}[{{ t }}]{% set u2 | upper %}up{% endset %}{{ u2 }}",
    "{% macro m(x, y='Y') %}<{{ x }}{{ y }}>{% endmacro %}{{ m(1) }}{{ m(2, y=3) }}{{ m('a', 'b') }}",
    "{% if n > 5 %}big{% elif n > 2 %}mid{% else %}small{% endif %} {{ 'yes' if n is odd else 'no' }} {{ 'x' if false }}.",
    "{{ n is defined }} {{ zz is defined }} {{ none is none }} {{ s is string }} {{ d is mapping }} {{ xs is iterable }} "
    "{{ xs is sequence }} {{ n is number }} {{ f is float }} {{ n is integer }} {{ true is boolean }} {{ n is even }} "
    "{{ n is divisibleby 7 }} {{ n is eq 7 }} {{ n is not none }} {{ 'a' is in 'abc' }} {{ 'x' is lower }}",
    "{{ 1 in xs }} {{ 9 not in xs }} {{ 'a' in d }} {{ 'ell' in s }} {{ not true }} {{ true and 'x' }} {{ 0 or 'y' }} {{ none or [] }}",
    "{{ 1 < 2 < 3 }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' < 'b' }} {{ [1, 2] == [1, 2] }} {{ (1, 2) == [1, 2] }} {{ none == none }}",
    "{{ d|tojson }} {{ u|tojson }} {{ xs|tojson(indent=2) }} {{ d|tojson(indent=4) }} {{ 'q\"\\\n\t'|tojson }} {{ 1.0|tojson }}",
    "{{ d|tojson(sort_keys=true) }} {{ d|tojson(separators=(',', ':')) }} {{ e|tojson }} {{ {}|tojson(indent=2) }}",
    "{{ xs|sort }} {{ xs|sort(reverse=true) }} {{ xs|first }} {{ xs|last }} {{ xs|min }} {{ xs|max }} {{ xs|sum }} "
    "{{ xs|reverse|list }} {{ [1, 2, 1, 3]|unique|list }} {{ d|list }} {{ 'ab'|list }}",
    "{{ msgs|selectattr('role', 'equalto', 'user')|list|length }} {{ msgs|rejectattr('role', 'eq', 'user')|map(attribute='content')|join }} "
    "{{ msgs|map(attribute='role')|list }} {{ [' a ', 'b ']|map('trim')|list }} {{ [0, 1, '', 'x']|select|list }} {{ [1, 2, 3]|reject('odd')|list }}",
    "{{ '42'|int }} {{ '3.7'|int }} {{ 'x'|int }} {{ 'x'|int(5) }} {{ '2.5'|float }} {{ 3|float }} {{ -3|abs }} {{ 2.567|round }} {{ 2.4|round(0, 'ceil') }}",
    "{{ zz|default('dflt') }} {{ ''|default('e', true) }} {{ none|default('n') }} {{ xs|count }} {{ d|length }} {{ zz|length }} {{ n|string }} {{ xs|string }}",
    "{{ 'line1\nline2\n\nline4'|indent(2) }}|{{ 'a\nb'|indent(2, true) }}|{{ 'a\n\nb'|indent('> ', blank=true) }}",
    "{{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 'D') }} {{ d.keys()|list }} {{ d.values()|list|length }} {{ d['b'] }} {{ d.c.x[1] }}",
    "{{ '<b>&'|e }} {{ 'x'|safe }} {{ d|items|list }}",
    "  {% if true %}\n    kept\n  {% endif %}\n{%- if true -%}\n   stripped   \n{%- endif %}\n  {{ 'var' }}  \n{#- comment -#}\n end",
    "a  {%+ if true %}x{% endif +%}\nb {# c #}\n{% raw %}{{ raw }} {% if %}{% endraw %}\n",
    "{{ messages[0].content }}{% for m in messages %}{{ m.role[0]|upper }}{% endfor %}{{ add_generation_prompt }}{{ bos_token }}",
    "{{ strftime_now('%Y-%m-%d %H:%M %b %A') }}",
    "{% set d2 = {'k': 1, 2: 'two', true: 'T'} %}{{ d2 }} {{ d2[2] }} {{ d2[1] }} {{ d2|length }}",
    "{{ raise_exception('custom failure') }}",
    "{{ undefined_thing.attr }}",
    "{{ 'a' + 1 }}",
    "{{ messages|unknownfilter }}",
    "{% for x in 5 %}{% endfor %}",
    "{% if true %}unclosed",
    "{{ 1 / 0 }}",
    # |safe makes a markupsafe.Markup: `+` with a plain string escapes the
    # plain one (autoescape is off, so printing and `~` do not).
    "{{ 'A<'|safe + h }}|{{ h + 'A<'|safe }}|{{ 'x<'|safe + h|safe }}|{{ 'A<'|safe ~ h }}|{{ (h|safe ~ h) + h }}"
    "|{{ none|safe + h }}|{{ 5|safe + '&' }}|{{ h|safe == h }}|{{ h|safe in [h] }}|{{ (h|safe)|length }}",
    "{{ h|e }}|{{ h|escape }}|{{ h|e|e }}|{{ h|e + h }}|{{ (h|e)|safe + h }}|{{ 3|e + '<' }}|{{ (h|safe)|e + h }}",
    "{{ [h|safe, 'x'|safe] }}|{{ {h|safe: h|e} }}|{{ (h|safe)|tojson }}|{{ [h|safe]|tojson }}|{{ (h|safe)|tojson + h }}"
    "|{{ [h|safe, h]|join(', '|safe) + h }}|{{ (h|safe)|string + h }}|{{ (h|safe)|default('x') + h }}",
    "{% set m = h|safe %}{% macro f(x) %}{{ x + '<' }}{% endmacro %}{{ f(m) }}|{{ f(h) }}|{{ (m if true else h) + '&' }}"
    "|{% for c in 'a<'|safe %}{{ c + '&' }}{% endfor %}|{% for x in [m] %}{{ x + '&' }}{% endfor %}",
    "{% set t = {'name': 'get<x>', 'description': \"it's & more\"} %}"
    "{{ \"Use the function '\"|safe + t['name'] + \"' to '\"|safe + t['description'] + \"'\\n\"|safe + t|tojson() }}",
    "{{ (h|safe)|trim + h }}|{{ (h|safe)|upper + h }}|{{ (h|safe)|lower + h }}|{{ ('<b>'|safe)|capitalize + h }}"
    "|{{ (h|safe)|title + h }}|{{ (h|safe)|list }}|{{ ['<'|safe]|map('upper')|first + '&' }}"
    "|{{ ('x'|safe) * 2 + '<' }}|{{ [h|safe]|first + '&' }}|{{ '%r' % (h|safe) }}|{{ '%s' % (h|safe) + '&' }}",
    "{{ 'x'|safe + 1 }}",
    "{% set d = {1: 'int', '1': 'str', 1.5: 'float', '1.5': 's', none: 'none', 'None': 'S', true: 'bool'} %}{{ d }} {{ d[1] }} {{ d['1'] }}",
]


def family(name):
    best = max((p for p, _ in FAMILIES if name.startswith(p)), key=len, default=None)
    return dict(FAMILIES)[best] if best else name.split("-")[0]


def render(template, conversation, add_generation_prompt):
    try:
        rendered, _ = ctu.render_jinja_template(
            conversations=[json.loads(json.dumps(conversation))],
            chat_template=template,
            add_generation_prompt=add_generation_prompt,
            **CONTEXT,
        )
        return {"output": rendered[0]}
    except Exception as e:  # the template raised (raise_exception, undefined, type error...)
        return {"error": f"{type(e).__name__}: {e}"}


def compress(output, previous):
    """The output as the longest prefix shared with an earlier output of the
    same template (its case index and the prefix length in UTF-8 bytes) plus
    the rest."""
    best, best_len = None, 0
    for index, text in previous:
        n = 0
        limit = min(len(text), len(output))
        while n < limit and text[n] == output[n]:
            n += 1
        if n > best_len:
            best, best_len = index, n
    if best is None or best_len < 16:
        return {"out": output}
    return {"from": best, "bytes": len(output[:best_len].encode("utf-8")), "out": output[best_len:]}


def fnv1a64(data: bytes) -> str:
    """64-bit FNV-1a of data, as 16 lowercase hex digits."""
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def default_templates_dir() -> Path:
    cache = Path(os.environ.get("GPT_CACHE_DIR") or Path.home() / ".cache/gpt")
    return cache / "llamacpp-0.3.36/src/vendor/llama.cpp/models/templates"


def main():
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else default_templates_dir()
    if not any(src.glob("*.jinja")):
        sys.exit(f"no *.jinja under {src}: run tools/fetch-llamacpp-sources first")
    out_path = Path(__file__).resolve().parent.parent / "tests/data/chat/jinja_cases.json"
    templates = []
    cases = []
    for path in sorted(src.glob("*.jinja")):
        data = path.read_bytes()
        text = data.decode("utf-8")  # no newline translation: the bytes hashed are the text rendered
        t = len(templates)
        templates.append({"file": path.name, "family": family(path.stem), "bytes": len(data), "fnv1a64": fnv1a64(data)})
        previous = []  # outputs of this template so far
        for c, conv in enumerate(CONVERSATIONS):
            off = render(text, conv, False)
            on = render(text, conv, True)
            for gen, r in ((False, off), (True, on)):
                case = {"t": t, "c": c, "g": int(gen)}
                if "error" in r:
                    case["error"] = r["error"][:120]
                else:
                    case.update(compress(r["output"], previous))
                    previous.append((len(cases), r["output"]))
                cases.append(case)
    units = []
    for text in UNITS:
        ctx = dict(UNIT_DATA, messages=[{"role": "user", "content": "hi"}], add_generation_prompt=True, bos_token="<s>")
        try:
            out = ctu._compile_jinja_template(text).render(**ctx)
            units.append({"template": text, "out": out})
        except Exception as e:
            units.append({"template": text, "error": f"{type(e).__name__}: {e}"[:120]})
    doc = {
        "generator": "tools/make_chat_template_fixtures.py (transformers render_jinja_template)",
        "context": CONTEXT,
        "now": FIXED_NOW.isoformat(),
        "templates_source": "llama-cpp-python 0.3.36 sdist, vendor/llama.cpp/models/templates (tools/fetch-llamacpp-sources)",
        "templates": templates,
        "conversations": CONVERSATIONS,
        "unit_data": UNIT_DATA,
        "units": units,
        "cases": cases,
    }
    body = ",\n".join(json.dumps(c, ensure_ascii=False) for c in cases)
    text = json.dumps({k: v for k, v in doc.items() if k != "cases"}, ensure_ascii=False)
    out_path.write_text(text[:-1] + ', "cases": [\n' + body + "\n]}\n", encoding="utf-8")
    n_err = sum("error" in c for c in cases)
    fams = sorted({t["family"] for t in templates})
    print(f"{len(templates)} templates, {len(fams)} families, {len(cases)} cases ({n_err} raise) -> {out_path}")


if __name__ == "__main__":
    main()
