"""The gateway as the official OpenAI Python client sees it: only base_url and api_key differ
from calling OpenAI. Run by crates/tunery/tests/gateway.rs:

    python openai_checks.py BASE_URL MODEL OTHER_MODEL   (the API key in TUNERY_TEST_API_KEY)

Asserts what a client relies on and prints one JSON line of figures for the Rust test.
"""

import json
import os
import sys

import openai

base_url, model, other = sys.argv[1], sys.argv[2], sys.argv[3]
client = openai.OpenAI(base_url=base_url, api_key=os.environ["TUNERY_TEST_API_KEY"], max_retries=0, timeout=120)
# Requests made (each answered or refused), and the tokens of MODEL's answers.
report = {"requests": 0, "model_prompt_tokens": 0, "model_completion_tokens": 0}


def count(usage=None, of_model=False):
    report["requests"] += 1
    if of_model:
        report["model_prompt_tokens"] += usage.prompt_tokens
        report["model_completion_tokens"] += usage.completion_tokens


# The model list names what the key may call.
listed = {m.id for m in client.models.list()}
assert {model, other} <= listed, listed

# A chat completion, greedy: an answer, a finish reason and usage.
messages = [{"role": "user", "content": "3?"}]
chat = client.chat.completions.create(model=model, messages=messages, max_tokens=8, temperature=0)
assert chat.object == "chat.completion" and chat.model == model, chat
assert chat.id.startswith("chatcmpl-"), chat.id
assert chat.choices[0].message.role == "assistant"
assert chat.choices[0].finish_reason in ("stop", "length"), chat.choices[0]
assert chat.usage.prompt_tokens > 0 and 0 < chat.usage.completion_tokens <= 8, chat.usage
assert chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens
count(chat.usage, of_model=True)
report["answer"] = chat.choices[0].message.content

# The same request streamed: the same text, one id, usage in the last chunk.
stream = client.chat.completions.create(
    model=model, messages=messages, max_tokens=8, temperature=0, stream=True, stream_options={"include_usage": True}
)
chunks = list(stream)
text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
assert text == chat.choices[0].message.content, (text, chat.choices[0].message.content)
assert len({c.id for c in chunks}) == 1 and all(c.model == model for c in chunks)
assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == chat.usage.completion_tokens, chunks[-1]
assert all(c.usage is None for c in chunks[:-1])
count(chunks[-1].usage, of_model=True)
report["stream_chunks"] = len(chunks)

# Without include_usage no chunk carries usage.
plain = list(client.chat.completions.create(model=other, messages=messages, max_tokens=4, temperature=0, stream=True))
assert plain and all(getattr(c, "usage", None) is None for c in plain), plain[-1]
count()

# n answers, a seed that reproduces a sampled answer, a stop sequence.
two = client.chat.completions.create(model=other, messages=messages, max_tokens=6, n=2, temperature=1.0, seed=11)
assert [c.index for c in two.choices] == [0, 1], two.choices
count(two.usage)
again = client.chat.completions.create(model=other, messages=messages, max_tokens=6, n=2, temperature=1.0, seed=11)
assert [c.message.content for c in again.choices] == [c.message.content for c in two.choices]
count(again.usage)

# Legacy completions.
completion = client.completions.create(model=other, prompt="Hello", max_tokens=5, temperature=0)
assert completion.object == "text_completion" and isinstance(completion.choices[0].text, str), completion
count(completion.usage)

# A count sent as a float with no fraction is the integer it equals (JSON Schema counts it so).
floats = client.chat.completions.create(model=other, messages=messages, max_tokens=4.0, seed=3.0, temperature=0)
assert floats.usage.completion_tokens <= 4, floats.usage
count(floats.usage)

# Errors in OpenAI's shape, as the SDK's exceptions.
try:
    client.chat.completions.create(model="no-such-model", messages=messages, max_tokens=2)
    raise AssertionError("an unknown model answered")
except openai.NotFoundError as e:
    assert e.code == "model_not_found", e.body
count()
try:
    client.chat.completions.create(model=model, messages=messages, max_tokens=2, temperature=3)
    raise AssertionError("temperature 3 was accepted")
except openai.BadRequestError as e:
    assert e.body["param"] == "temperature", e.body
count()
try:
    client.chat.completions.create(model=model, messages=messages, max_tokens=100000)
    raise AssertionError("max_tokens beyond the context was accepted")
except openai.BadRequestError as e:
    assert e.code == "context_length_exceeded", e.body
count()

print(json.dumps(report))
