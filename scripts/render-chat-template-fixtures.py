#!/usr/bin/env python3
"""Renders the golden fixtures of crates/chat-template with Python's Jinja2, the way transformers'
`apply_chat_template` renders chat templates, so the Rust renderer can be compared byte for byte.

    python3 -m venv ~/.cache/tunery/chat-template-venv
    ~/.cache/tunery/chat-template-venv/bin/pip install jinja2
    ~/.cache/tunery/chat-template-venv/bin/python scripts/render-chat-template-fixtures.py [--check] [--transformers]

Writes crates/chat-template/tests/fixtures/<template>.json for each built-in template (its source
read from crates/chat-template/templates/<name>.jinja) and features.json (small templates that
exercise the Jinja features chat templates use). With --check, writes nothing and fails if a
fixture would change. With --transformers (after `pip install transformers` in the same venv; torch
is not needed), every case is also rendered by transformers' own apply_chat_template and
must come out the same (checked with transformers 5.24.0).

The environment copies transformers.utils.chat_template_utils._compile_jinja_template:
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker,
loopcontrols]), a `tojson` filter that is json.dumps(ensure_ascii=False, ...), and the globals
`raise_exception` and `strftime_now`; render() gets messages, tools=None, documents=None,
add_generation_prompt and the special tokens, as apply_chat_template passes them.

Each case also records the trained spans (byte offsets into the training text, i.e. the
rendering without generation prompt): the content of every assistant message whose weight is not
0, plus the template's end-of-turn token when it follows the content. They are found here
independently of the Rust code, by wrapping those contents in marker characters and finding the
markers in the output; where the markers change the output (a template that trims contents
which start or end with whitespace), the spans are recorded as null.
"""

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

import jinja2
import jinja2.ext
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = Path(__file__).resolve().parent.parent
CRATE = ROOT / "crates" / "chat-template"
TEMPLATES = CRATE / "templates"
FIXTURES = CRATE / "tests" / "fixtures"


# --- transformers' environment -------------------------------------------------------------

class AssistantTracker(Extension):
    """transformers' {% generation %} ... {% endgeneration %} block; renders its body as is."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    @jinja2.pass_eval_context
    def _generation_support(self, context, caller):
        return caller()


def compile_template(source):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(source)


def render(source, messages, add_generation_prompt, special_tokens, variables=None):
    template = compile_template(source)
    chat = [{"role": m["role"], "content": m["content"]} for m in messages]  # weight is Tunery's
    kwargs = {k: v for k, v in special_tokens.items() if v is not None}
    kwargs.update(variables or {})
    return template.render(
        messages=chat, tools=None, documents=None, add_generation_prompt=add_generation_prompt, **kwargs
    )


EMPTY_CONVERSATION = "Cannot apply chat template to an empty conversation. Provide at least one message."


def outcome(source, messages, add_generation_prompt, special_tokens, variables=None):
    """{"expected": text} or {"error": message, "error_type": class name}."""
    if not messages:
        # apply_chat_template refuses an empty conversation before rendering (transformers 5).
        return {"error": EMPTY_CONVERSATION, "error_type": "ValueError"}
    try:
        return {"expected": render(source, messages, add_generation_prompt, special_tokens, variables)}
    except jinja2.exceptions.TemplateError as err:
        # raise_exception raises the TemplateError base class itself; Jinja's own errors
        # (UndefinedError, TemplateSyntaxError, ...) are subclasses.
        return {"error": str(err), "error_type": type(err).__name__}
    except Exception as err:  # TypeError and friends from the template's expressions
        return {"error": str(err), "error_type": type(err).__name__}


# --- trained spans -------------------------------------------------------------------------

OPEN, CLOSE = "\ue010", "\ue011"


def is_trained(message):
    return message["role"] == "assistant" and message.get("weight", 1) != 0


def trained_spans(source, messages, special_tokens, end_of_turn, text):
    marked = [dict(m, content=OPEN + m["content"] + CLOSE) if is_trained(m) else m for m in messages]
    try:
        out = render(source, marked, False, special_tokens)
    except Exception:
        return None
    if out.replace(OPEN, "").replace(CLOSE, "") != text:
        return None
    spans, plain, start = [], [], None
    for ch in out:
        if ch == OPEN:
            start = len("".join(plain))
        elif ch == CLOSE:
            end = len("".join(plain))
            if text[end:].startswith(end_of_turn):
                end += len(end_of_turn)
            spans.append([len(text[:start].encode()), len(text[:end].encode())])
        else:
            plain.append(ch)
    if len(spans) != sum(1 for m in messages if is_trained(m)):
        return None
    return spans


# --- the conversations ---------------------------------------------------------------------

def m(role, content, weight=None):
    message = {"role": role, "content": content}
    if weight is not None:
        message["weight"] = weight
    return message


SYSTEM = m("system", "You are a concise assistant.")
Q1 = m("user", "What is the capital of France?")
A1 = m("assistant", "Paris.")
Q2 = m("user", "And of Italy?")
A2 = m("assistant", "Rome.")

CONVERSATIONS = [
    ("system_user_assistant", [SYSTEM, Q1, A1], False),
    ("system_user_generation_prompt", [SYSTEM, Q1], True),
    ("user_only_generation_prompt", [m("user", "Hello!")], True),
    ("user_only", [m("user", "Hello!")], False),
    ("user_assistant", [Q1, A1], False),
    ("multi_turn", [SYSTEM, Q1, A1, Q2, A2], False),
    ("multi_turn_generation_prompt", [SYSTEM, Q1, A1, Q2], True),
    (
        "chinese",
        [
            m("system", "你是一个乐于助人的助手。"),
            m("user", "北京是哪个国家的首都？"),
            m("assistant", "北京是中华人民共和国的首都。🇨🇳"),
            m("user", "谢谢！"),
            m("assistant", "不客气 😊"),
        ],
        False,
    ),
    ("empty_system", [m("system", ""), Q1, A1], False),
    ("empty_assistant", [Q1, m("assistant", "")], False),
    ("weight_zero", [Q1, m("assistant", "Lyon.", weight=0), Q2, m("assistant", "Rome.", weight=1)], False),
    ("whitespace", [m("user", "  Padded question?\n"), m("assistant", "\n  Padded answer.  ")], False),
    ("content_like_markup", [m("user", "user"), m("assistant", "a"), m("user", "assistant"), m("assistant", "t")], False),
    (
        "multiline_and_quotes",
        [
            m("user", "Line one\nLine \"two\"\n'three' \\ back\ttab"),
            m("assistant", "```python\nprint('hi')\n```\n<b>&amp;</b>"),
        ],
        False,
    ),
    ("roles_not_alternating", [Q1, Q2, A1], False),
    ("system_only", [SYSTEM], False),
    ("assistant_first", [A1, Q1], False),
    ("empty_conversation", [], False),
]

BUILTINS = {
    "chatml": {
        "origin": "HuggingFaceTB/SmolLM2-135M-Instruct tokenizer_config.json",
        "special_tokens": {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "pad_token": "<|im_end|>", "unk_token": "<|endoftext|>"},
        "end_of_turn": "<|im_end|>",
    },
    "llama3": {
        "origin": "meta-llama/Meta-Llama-3-8B-Instruct tokenizer_config.json",
        "special_tokens": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "pad_token": None, "unk_token": None},
        "end_of_turn": "<|eot_id|>",
    },
    "qwen2": {
        "origin": "Qwen/Qwen2-7B-Instruct tokenizer_config.json",
        "special_tokens": {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "unk_token": None},
        "end_of_turn": "<|im_end|>",
    },
    "mistral": {
        "origin": "mistralai/Mistral-7B-Instruct-v0.2 tokenizer_config.json (revised template with system message)",
        "special_tokens": {"bos_token": "<s>", "eos_token": "</s>", "pad_token": None, "unk_token": "<unk>"},
        "end_of_turn": "</s>",
    },
    "mistral-v0.1": {
        "origin": "mistralai/Mistral-7B-Instruct-v0.1 and Mixtral-8x7B-Instruct-v0.1 tokenizer_config.json",
        "special_tokens": {"bos_token": "<s>", "eos_token": "</s>", "pad_token": None, "unk_token": "<unk>"},
        "end_of_turn": "</s>",
    },
    "gemma": {
        "origin": "google/gemma-7b-it and gemma-2-*-it tokenizer_config.json",
        "special_tokens": {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"},
        "end_of_turn": "<end_of_turn>",
    },
    "phi3": {
        "origin": "microsoft/Phi-3-mini-4k-instruct tokenizer_config.json",
        "special_tokens": {"bos_token": "<s>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "unk_token": "<unk>"},
        "end_of_turn": "<|end|>",
    },
}


def builtin_fixture(name, meta):
    source = (TEMPLATES / f"{name}.jinja").read_text(encoding="utf-8")
    cases = []
    for case_name, messages, add_generation_prompt in CONVERSATIONS:
        case = {"name": case_name, "messages": messages, "add_generation_prompt": add_generation_prompt}
        case.update(outcome(source, messages, add_generation_prompt, meta["special_tokens"]))
        if "expected" in case and not add_generation_prompt:
            case["trained_spans"] = trained_spans(
                source, messages, meta["special_tokens"], meta["end_of_turn"], case["expected"]
            )
        cases.append(case)
    return {
        "template": name,
        "origin": meta["origin"],
        "renderer": renderer(),
        "source": source,
        "special_tokens": meta["special_tokens"],
        "end_of_turn": meta["end_of_turn"],
        "cases": cases,
    }


# --- Jinja features chat templates use -----------------------------------------------------

FEATURE_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": None, "unk_token": None}
FEATURE_MESSAGES = [
    m("system", "  Be brief.  "),
    m("user", "Hello, wörld! 你好 \"quoted\" <tag> & 'single'"),
    m("assistant", "Hi there!\nSecond line."),
    m("user", "bye"),
]

FEATURES = [
    ("tojson_default", "{{ messages|tojson }}"),
    ("tojson_indent", "{{ messages[:2]|tojson(indent=2) }}\n{{ {'a': [], 'b': {}, 'c': [1, 2]}|tojson(indent=4) }}"),
    ("tojson_options", "{{ {'b': 1, 'a': [1.5, none, true, false, 2.0, -0.0, 1e16, 0.0001, 1.5e-05]}|tojson(sort_keys=true) }}|"
                       "{{ {'k': 'v', 'n': 3}|tojson(separators=(',', ':')) }}|{{ 'é✓😀\x7f'|tojson(ensure_ascii=true) }}|"
                       "{{ 'é'|tojson(true) }}|{{ [1, 2]|tojson(indent='\t') }}|{{ {1: 'int key', none: 0}|tojson }}"),
    ("tojson_control_chars", "{{ 'tab\there\nnew\rret\x08\x0c\x01 \\ / \"'|tojson }}"),
    ("namespace_and_loop_controls",
     "{% set ns = namespace(count=0, roles='') %}"
     "{% for message in messages %}"
     "{% if message.role == 'system' %}{% continue %}{% endif %}"
     "{% set ns.count = ns.count + 1 %}{% set ns.roles = ns.roles + message.role[0] %}"
     "{% if loop.index >= 3 %}{% break %}{% endif %}"
     "{% endfor %}{{ ns.count }} {{ ns.roles }}"),
    ("loop_variables",
     "{% for message in messages %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.length }}"
     "{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %}"
     "{% if loop.previtem is defined %}<{{ loop.previtem.role }}{% endif %}"
     "{% if loop.nextitem is defined %}>{{ loop.nextitem.role }}{% endif %};{% endfor %}"),
    ("string_methods",
     "{% set c = messages[1].content %}{{ messages[0].content.strip() }}|{{ messages[0].content.lstrip() }}|"
     "{{ messages[0].content.rstrip() }}|{{ c.startswith('Hello') }}|{{ c.endswith('x') }}|"
     "{{ c.split(' ') }}|{{ 'a b  c'.split() }}|{{ c.title() }}|{{ c.upper() }}|{{ c.lower() }}|"
     "{{ c.replace('l', 'L') }}|{{ 'xxhixx'.strip('x') }}|{{ c.find('wörld') }}|{{ c.count('l') }}|"
     "{{ 'a\nb'.splitlines() }}|{{ 'abc'.capitalize() }}|{{ '-'.join(['a', 'b']) }}|{{ 'ab'.isalpha() }}|"
     "{% set t = \"it's o'neil-x (y) [z] <w> {v} 2nd ÉCOLE\" %}{{ t.title() }}|{{ t|title }}|{{ c|title }}|{{ t.capitalize() }}|{{ t|capitalize }}"),
    ("dict_methods",
     "{% for k, v in messages[1].items() %}{{ k }}={{ v }};{% endfor %}|{{ messages[0].keys()|list }}|"
     "{{ messages[0].get('weight', 'none given') }}|{{ messages[0].get('role') }}|{{ messages[0].values()|list|length }}"),
    ("printing_python_values",
     "{{ none }}|{{ true }}|{{ false }}|{{ 1.0 }}|{{ 3 / 2 }}|{{ 7 // 2 }}|{{ 7 % 3 }}|{{ 2 ** 10 }}|{{ [1, 'a', none, true] }}|"
     "{{ messages[0] }}|{{ tools }}|{{ documents is none }}|{{ 'x' * 3 }}|{{ [1] + [2] }}|{{ 'n: ' ~ 5 }}|{{ none|string }}|"
     "{{ messages[0]['missing'] }}|{{ messages[0].missing is defined }}|{{ -3|abs }}|{{ 2.5|round }}|{{ '42'|int + 1 }}"),
    ("filters_and_tests",
     "{{ messages|length }}|{{ messages|selectattr('role', 'equalto', 'user')|list|length }}|"
     "{{ messages|map(attribute='role')|join(', ') }}|{{ (messages|first).role }}|{{ (messages|last).content }}|"
     "{{ messages[0].content|trim }}|{{ messages[1:]|length }}|{{ messages[-1].role }}|"
     "{{ messages[::-1]|map(attribute='role')|join(',') }}|{{ 'x' in 'xyz' }}|{{ 'user' in messages|map(attribute='role') }}|"
     "{{ messages[0].content is string }}|{{ messages[0] is mapping }}|{{ messages is iterable }}|{{ none is none }}|"
     "{{ pad_token is defined }}|{{ bos_token is defined }}|{{ undefined_thing|default('dflt') }}|{{ ''|default('empty', true) }}|"
     "{{ messages|rejectattr('role', 'equalto', 'user')|map(attribute='role')|list }}|{{ [3, 1, 2]|sort }}|{{ ['a', 'b']|reverse|list }}|"
     "{{ range(3)|list }}|{{ 'abc'|upper }}|{{ 'ABC'|lower }}|{{ 'hello world'|title }}|{{ 'hello'|capitalize }}|{{ 'a-b'|replace('-', '+') }}|"
     "{{ [1, 2, 3]|sum }}|{{ [4, 5]|max }}|{{ 5 is divisibleby(5) }}|{{ 3 is odd }}|{{ 1 is number }}"),
    ("whitespace_control",
     "{% for message in messages %}\n"
     "    {% if message.role == 'user' %}\n"
     "        U: {{ message.content }}\n"
     "    {%- elif message.role == 'assistant' -%}\n"
     "        A: {{- message.content -}}\n"
     "    {% else %}\n"
     "        {#- a comment -#}\n"
     "        S: {{ message.content }}\n"
     "    {% endif %}\n"
     "{% endfor %}\n"
     "  {%+ if true %}kept indent{% endif %}\n"
     "end\n"),
    ("macros",
     "{% macro turn(message, prefix='>') %}{{ prefix }}{{ message.role }}: {{ message.content|trim }}{% endmacro %}"
     "{% for message in messages %}{{ turn(message) }}{{ turn(message, prefix='#')|length }}\n{% endfor %}"),
    ("generation_block",
     "{% for message in messages %}{% if message.role == 'assistant' %}\n"
     "    {% generation %}\n"
     "    {{- message.content + eos_token }}\n"
     "    {% endgeneration %}\n"
     "{% else %}{{ message.role }}: {{ message.content }}\n{% endif %}{% endfor %}"),
    ("set_and_if_chains",
     "{%- if messages[0]['role'] == 'system' %}\n"
     "    {%- set system_message = messages[0]['content'] %}\n"
     "    {%- set loop_messages = messages[1:] %}\n"
     "{%- else %}\n"
     "    {%- set loop_messages = messages %}\n"
     "{%- endif %}\n"
     "{%- if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}\n"
     "{{- bos_token }}[{{ system_message|default('') }}]\n"
     "{%- for message in loop_messages %}\n"
     "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n"
     "        {{- raise_exception('roles must alternate') }}\n"
     "    {%- endif %}\n"
     "    {{- ' ' + message['role'] + '=' + message['content'] }}\n"
     "{%- endfor %}\n"
     "{%- if add_generation_prompt %}{{ ' assistant=' }}{% endif %}\n"),
    ("string_escapes", "{{ 'a\\nb\\tc\\'d\\\"e\\\\f' }}|{{ \"x\\u00e9y\" }}|{{ '\\x41' }}"),
    ("strftime_now_defined", "{{ strftime_now is defined }} {{ strftime_now('%Y')|length }}"),
    ("raise_exception_with_message", "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported: ' + messages[0].content|trim) }}{% endif %}"),
    ("undefined_attribute_error", "{{ messages[10].role }}"),
    ("date_string_variable", "{{ date_string }} {{ custom.flag }} {{ custom.names|join('+') }}"),
    ("crlf_newlines", "line one\r\nline two\r{% if true %}\r\n{{ 'in\r\nstring' }}{% endif %}\r\n"),
]

FEATURE_VARIABLES = {
    "date_string_variable": {"date_string": "26 Jul 2024", "custom": {"flag": True, "names": ["a", "b"]}},
}


def features_fixture():
    cases = []
    for name, source in FEATURES:
        variables = FEATURE_VARIABLES.get(name, {})
        for add_generation_prompt in (False, True) if name == "set_and_if_chains" else (False,):
            case = {
                "name": name if not add_generation_prompt else name + "+generation_prompt",
                "source": source,
                "messages": FEATURE_MESSAGES,
                "add_generation_prompt": add_generation_prompt,
                "variables": variables,
            }
            case.update(outcome(source, FEATURE_MESSAGES, add_generation_prompt, FEATURE_TOKENS, variables))
            cases.append(case)
    return {"renderer": renderer(), "special_tokens": FEATURE_TOKENS, "cases": cases}


def renderer():
    return (
        f"Python jinja2 {jinja2.__version__}: ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, "
        "extensions=[AssistantTracker, loopcontrols]) with transformers' tojson, raise_exception, strftime_now"
    )


def compare_with_transformers(outputs):
    """Renders every case with transformers' own apply_chat_template and fails on any
    difference from this script's rendering (needs `pip install transformers`; no torch)."""
    import transformers
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    compared, differences = 0, []
    for file_name, fixture in outputs.items():
        special = {k: v for k, v in fixture["special_tokens"].items() if v is not None}
        backend = Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>"))
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, **special)
        for case in fixture["cases"]:
            if case["name"] == "strftime_now_defined":
                continue  # the date of the day
            chat = [{"role": m["role"], "content": m["content"]} for m in case["messages"]]
            try:
                theirs = {"expected": tokenizer.apply_chat_template(
                    chat, chat_template=case.get("source", fixture.get("source")), tokenize=False,
                    add_generation_prompt=case["add_generation_prompt"], **case.get("variables", {}))}
            except Exception as err:
                theirs = {"error": str(err), "error_type": type(err).__name__}
            ours = {k: case[k] for k in ("expected", "error", "error_type") if k in case}
            if theirs != ours:
                differences.append(f"{file_name}/{case['name']}: transformers {theirs!r}, here {ours!r}")
            compared += 1
    if differences:
        print("\n".join(differences), file=sys.stderr)
        sys.exit(1)
    print(f"transformers {transformers.__version__} apply_chat_template renders all {compared} cases the same")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if a fixture would change; write nothing")
    parser.add_argument(
        "--transformers", action="store_true", help="also compare every case with transformers' apply_chat_template"
    )
    args = parser.parse_args()

    outputs = {f"{name}.json": builtin_fixture(name, meta) for name, meta in BUILTINS.items()}
    outputs["features.json"] = features_fixture()
    if args.transformers:
        compare_with_transformers(outputs)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    stale = []
    for file_name, fixture in outputs.items():
        text = json.dumps(fixture, ensure_ascii=False, indent=2) + "\n"
        path = FIXTURES / file_name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(file_name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)} ({len(fixture['cases'])} cases)")
    if stale:
        print("stale fixtures: " + ", ".join(stale) + " (run scripts/render-chat-template-fixtures.py)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
