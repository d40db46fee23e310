"""The official `openai` client against a running `glassbox serve` (run by
crates/glassbox-cli/tests/serve.rs): completions, chat, streaming, log-probs, errors.

usage: openai_client.py BASE_URL API_KEY
"""

import sys

import openai

base, key = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0, timeout=60)

ids = [m.id for m in client.models.list()]
assert ids == ["llama", "qwen2"], ids

# Completions: echo with log-probs, as evaluation harnesses use it.
r = client.completions.create(model="llama", prompt="Hello there", max_tokens=5, temperature=0,
                              logprobs=2, echo=True, seed=1)
c = r.choices[0]
assert c.text.startswith("Hello there"), c.text
assert r.usage.completion_tokens == 5 and r.usage.prompt_tokens > 0, r.usage
assert c.logprobs.token_logprobs[0] is None
assert len(c.logprobs.tokens) == r.usage.prompt_tokens + 5
assert all(len(t) <= 2 for t in c.logprobs.top_logprobs[1:])
assert c.finish_reason == "length"

# Token-id prompts, several at once, n > 1.
r = client.completions.create(model="qwen2", prompt=[[5, 6, 7], [8, 9]], max_tokens=3, n=2, seed=4)
assert [ch.index for ch in r.choices] == [0, 1, 2, 3]

# Streaming gives the same text as the whole answer for the same seed.
whole = client.completions.create(model="llama", prompt="Once", max_tokens=12, temperature=0.9, seed=7)
parts = client.completions.create(model="llama", prompt="Once", max_tokens=12, temperature=0.9, seed=7,
                                  stream=True)
streamed = "".join(p.choices[0].text for p in parts if p.choices)
assert streamed == whole.choices[0].text, (streamed, whole.choices[0].text)

# Chat, whole and streamed.
msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"}]
ch = client.chat.completions.create(model="llama", messages=msgs, max_tokens=8, seed=3, temperature=0.7)
assert ch.choices[0].message.role == "assistant"
assert ch.usage.completion_tokens == len(client.chat.completions.create(
    model="llama", messages=msgs, max_tokens=8, seed=3, temperature=0.7, logprobs=True
).choices[0].logprobs.content)
chunks = list(client.chat.completions.create(model="llama", messages=msgs, max_tokens=8, seed=3,
                                             temperature=0.7, stream=True,
                                             stream_options={"include_usage": True}))
text = "".join(k.choices[0].delta.content or "" for k in chunks if k.choices)
assert text == ch.choices[0].message.content, (text, ch.choices[0].message.content)
assert chunks[-1].usage.completion_tokens == ch.usage.completion_tokens

# Errors arrive as the client's exception classes, with OpenAI's error bodies.
try:
    client.completions.create(model="nope", prompt="x", max_tokens=1)
    raise SystemExit("unknown model accepted")
except openai.NotFoundError as e:
    assert e.body["code"] == "model_not_found", e.body
try:
    client.completions.create(model="llama", prompt="", max_tokens=1)
    raise SystemExit("empty prompt accepted")
except openai.BadRequestError as e:
    assert "empty" in e.body["message"], e.body
try:
    client.completions.create(model="llama", prompt="x", max_tokens=1, n=99)
    raise SystemExit("n = 99 accepted")
except openai.BadRequestError as e:
    assert e.body["param"] == "n", e.body
bad = openai.OpenAI(base_url=base + "/v1", api_key="wrong", max_retries=0)
try:
    bad.models.list()
    raise SystemExit("wrong key accepted")
except openai.AuthenticationError:
    pass
print("openai client: all checks passed")
