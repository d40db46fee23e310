#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets over the model, inference, data, training, release
and serving crates (the audit targets' seeds are hand-made files). Standard library only; run from
the repository root: python3 fuzz/seeds/make_seeds.py. Formats: docs/formats.md."""
import json
import os
import struct

ROOT = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(ROOT))
MODELS = os.path.join(REPO, "tests", "fixtures", "models")
TRAIN = os.path.join(REPO, "tests", "fixtures", "train")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(*p):
    with open(os.path.join(*p), "rb") as f:
        return f.read()


def safetensors(tensors, metadata=None):
    header, blobs, off = {}, b"", 0
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        blobs += raw
        off += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blobs


# model_safetensors: one tensor of each loadable dtype, a scalar and an unloadable dtype.
put("model_safetensors", "a.safetensors", safetensors([
    ("w.f32", "F32", [2, 3], struct.pack("<6f", *range(6))),
    ("w.f16", "F16", [4], struct.pack("<4e", 1.0, -2.0, 0.5, 65504.0)),
    ("w.bf16", "BF16", [2], b"\x80\x3f\x00\xc0"),
    ("w.f64", "F64", [1], struct.pack("<d", 3.25)),
    ("s", "F32", [], struct.pack("<f", 7.0)),
    ("i", "I64", [1], struct.pack("<q", 9)),
], {"format": "pt"}))

# model_config: the configurations of the test models.
for m in ["llama", "qwen2", "mistral", "llama-legacy", "qwen3", "smollm3", "olmo", "olmo2",
          "gpt-neox", "phi3", "gemma2", "gemma3", "mixtral", "olmoe", "qwen3-moe"]:
    p = os.path.join(MODELS, m, "config.json")
    if os.path.exists(p):
        put("model_config", m + ".json", read(p))

# tokenizer_json: first byte even = tokenizer.json, odd = tokenizer_config.json.
for m in ["llama", "qwen2"]:
    put("tokenizer_json", m + "-tokenizer.json", b"\x00" + read(MODELS, m, "tokenizer.json"))
    put("tokenizer_json", m + "-tokenizer_config.json",
        b"\x01" + read(MODELS, m, "tokenizer_config.json"))
put("tokenizer_json", "train-tokenizer.json", b"\x00" + read(TRAIN, "dataset", "tokenizer.json"))

# chat_template: the templates the test models ship.
for m in ["llama", "qwen2"]:
    put("chat_template", m + ".jinja", read(MODELS, m, "chat_template.jinja"))

# recipe: the training fixture's recipe.
put("recipe", "train.toml", read(TRAIN, "recipe.toml"))

# manifests: first byte % 3 = 0 datasheet.json, 1 dataset manifest.json, 2 bundle MANIFEST.json.
put("manifests", "datasheet.json", b"\x00" + read(TRAIN, "dataset", "datasheet.json"))
put("manifests", "manifest.json", b"\x01" + read(TRAIN, "dataset", "manifest.json"))
put("manifests", "MANIFEST.json", b"\x02" + json.dumps({
    "schema_version": 1,
    "glassbox_version": "0.1.0",
    "files": [{"path": "model/config.json", "sha256": "0" * 64, "bytes": 10}],
}).encode())

# token_files: first byte % 5 = 0 shard, 1 order, 2 Megatron (u16 .idx length, .idx, .bin),
# 3 nanoGPT, 4 llm.c.
toks = [5, 1, 2, 3, 0, 7, 7, 9, 0, 4, 4, 0]
put("token_files", "shard",
    b"\x00" + b"GBTOKENS" + struct.pack("<IIQQ", 1, 2, len(toks), 0) + struct.pack("<12H", *toks))
put("token_files", "order",
    b"\x01" + b"GBXORDER" + struct.pack("<IIQQ", 1, 3, 42, 3) + struct.pack("<3Q", 2, 0, 1))
sizes = [4, 3, 5]
ptrs = [0, 8, 14]
idx = (b"MMIDIDX\x00\x00" + struct.pack("<QBQQ", 1, 8, len(sizes), len(sizes) + 1)
       + struct.pack("<3i", *sizes) + struct.pack("<3q", *ptrs) + struct.pack("<4q", 0, 1, 2, 3))
put("token_files", "megatron", b"\x02" + struct.pack("<H", len(idx)) + idx
    + struct.pack("<12H", *toks))
put("token_files", "nanogpt", b"\x03" + struct.pack("<12H", *toks))
head = struct.pack("<3i", 20240520, 1, len(toks)) + b"\x00" * (1024 - 12)
put("token_files", "llmc", b"\x04" + head + struct.pack("<12H", *toks))

# http: first byte chooses /v1/completions, /v1/chat/completions, /tokenize, /detokenize.
reqs = [
    (0, {"model": "llama", "prompt": "Once upon", "max_tokens": 3, "temperature": 0}),
    (0, {"prompt": ["a b", "c"], "max_tokens": 2, "n": 2, "logprobs": 2, "seed": 7,
         "stop": ["\n"], "top_p": 0.9}),
    (0, {"prompt": "The cat", "echo": True, "logprobs": 1, "max_tokens": 0}),
    (0, {"prompt": "stream me", "stream": True, "max_tokens": 3}),
    (1, {"messages": [{"role": "system", "content": "Be brief."},
                      {"role": "user", "content": "Hi"}], "max_tokens": 3, "logprobs": True,
         "top_logprobs": 2}),
    (1, {"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
         "stream": True, "max_tokens": 2, "stream_options": {"include_usage": True}}),
    (2, {"prompt": "hello world", "add_special_tokens": True}),
    (2, {"messages": [{"role": "user", "content": "Hi"}], "add_generation_prompt": True}),
    (3, {"tokens": [1, 2, 3, 4]}),
    (0, {"prompt": [[1, 2, 3], [4, 5]], "max_tokens": 1}),
]
for i, (k, body) in enumerate(reqs):
    put("http", "req%d" % i, bytes([k]) + json.dumps(body).encode())
