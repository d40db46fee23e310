//! The bodies of every fuzz target. The AFL binaries of `fuzz/src/bin/` call them, and
//! `crates/glassbox-cli/tests/fuzz_inputs.rs` includes this same file to replay every seed and
//! every committed crash in `cargo test`.
//!
//! Parsers that read files are fed through a scratch directory (`dir`), so the code under test is
//! the code a user runs, from `open` to the last check. A target returns normally for any input;
//! a panic, an abort or a hang is the finding.

#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The tiny Llama test model: tokenizer, chat template and weights for the targets that need a
/// model.
pub(crate) fn fixture_model() -> std::path::PathBuf {
    // This file is compiled in `fuzz/` and in `crates/glassbox-cli/`.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fuzz = manifest.join("../tests/fixtures/models/llama");
    if fuzz.is_dir() {
        fuzz
    } else {
        manifest.join("../../tests/fixtures/models/llama")
    }
}

fn put(dir: &Path, name: &str, data: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    // The scratch directory is ours; a failed write is the harness's fault, not the input's.
    std::fs::write(&p, data).expect("writing a fuzz input to the scratch directory");
    p
}

fn clear(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// GGUF metadata, as the audit reads it; and the whole file as the model's reader parses it,
/// every tensor dequantized.
pub(crate) fn gguf(_dir: &Path, data: &[u8]) {
    let _ = glassbox_audit::formats::gguf_summary(data);
    if let Ok(f) = glassbox_model::gguf::GgufFile::from_bytes(data, "fuzz.gguf".as_ref()) {
        for t in &f.tensors {
            if let Ok(b) = f.tensor_slice(data, &t.name) {
                let _ = glassbox_model::gguf::quant::dequantize(t.ty, b);
            }
        }
    }
}

/// The audit's safetensors header summary: the 8-byte length prefix, then the JSON header read
/// through the same callback the audit uses on a file.
pub(crate) fn safetensors_header(_dir: &Path, data: &[u8]) {
    let head = data.get(..8).unwrap_or(data).to_vec();
    let rest = data.get(8..).unwrap_or(&[]).to_vec();
    let _ = glassbox_audit::formats::safetensors_summary(&head, |n| {
        Ok(rest.get(..n.min(rest.len())).unwrap_or(&[]).to_vec())
    });
}

/// The audit's static pickle scanner (plain pickle streams and PyTorch zip archives).
pub(crate) fn pickle(_dir: &Path, data: &[u8]) {
    let _ = glassbox_audit::pickle::scan_file(std::io::Cursor::new(data));
}

/// Model card front matter (YAML) and Markdown.
pub(crate) fn card(_dir: &Path, data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let mut findings = Vec::new();
        let _ = glassbox_audit::card::Card::parse("README.md", text, false, &mut findings);
    }
}

/// Model Openness Tool model files (YAML → MOT model).
pub(crate) fn mot(_dir: &Path, data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(v) = glassbox_audit::card::parse_yaml(text)
    {
        let _ = glassbox_audit::mot::parse(&v, Path::new("model.yml"));
    }
}

/// Licence identification and clause detection on any text.
pub(crate) fn license_text(_dir: &Path, data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = glassbox_audit::license::from_text(text);
    }
}

/// First byte chooses a variant, the rest is the input.
fn split(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((k, rest)) => (*k, rest),
        None => (0, data),
    }
}

/// `model.safetensors` as the model crate maps it: header checks, then every tensor of up to a
/// million elements decoded to f32.
pub(crate) fn model_safetensors(dir: &Path, data: &[u8]) {
    clear(dir);
    let p = put(dir, "model.safetensors", data);
    let _ = glassbox_model::safetensors_io::parse_header(&p, data);
    if let Ok(f) = glassbox_model::safetensors_io::SafetensorsFile::open(&p) {
        let names: Vec<(String, usize)> = f
            .tensors()
            .iter()
            .map(|(n, t)| (n.clone(), t.shape.iter().product::<usize>()))
            .collect();
        for (n, numel) in names {
            if numel <= 1 << 20 {
                let _ = f.load_f32(&n, &candle_core::Device::Cpu);
            }
        }
    }
}

/// `config.json` → model configuration, then the derived sizes.
pub(crate) fn model_config(_dir: &Path, data: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data)
        && let Ok(c) = glassbox_model::ModelConfig::from_value(&v, Path::new("config.json"))
    {
        let _ = c.checked_num_parameters();
        let _ = c.gqa_groups();
        let _ = c.to_hf_json("float32");
        let _ = glassbox_model::tensor_shapes(&c);
    }
}

/// `tokenizer.json` (first byte even) or `tokenizer_config.json` beside the test model's
/// tokenizer (odd), loaded as a model directory is; the tokenizer then encodes and decodes a
/// mixed-script text, and the data crate loads the same `tokenizer.json`.
pub(crate) fn tokenizer_json(dir: &Path, data: &[u8]) {
    clear(dir);
    let (k, data) = split(data);
    if k % 2 == 0 {
        put(dir, "tokenizer.json", data);
    } else {
        let fixture = std::fs::read(fixture_model().join("tokenizer.json"))
            .expect("reading the fixture tokenizer");
        put(dir, "tokenizer.json", &fixture);
        put(dir, "tokenizer_config.json", data);
    }
    if let Ok(t) = glassbox_infer::TextTokenizer::load(dir) {
        let text = "Hello, world! ¿Qué tal? 你好 <|im_start|> \u{0}\t\n  end";
        if let Ok(ids) = t.encode(text, true) {
            let _ = t.decode(&ids, false);
            let _ = t.decode(&ids, true);
        }
        let _ = t.decode(&[0, 1, 2, 3, u32::MAX], false);
        for id in [0, 1, 255, 256, u32::MAX] {
            let _ = t.token_piece(id);
        }
        let _ = t.token_id("hello");
        let _ = glassbox_infer::ChatTemplate::from_tokenizer(&t);
    }
    if k % 2 == 0 {
        let _ = glassbox_data::tokenizer::load(&dir.join("tokenizer.json"));
    }
}

fn fixture_tokenizer() -> &'static glassbox_infer::TextTokenizer {
    static T: OnceLock<glassbox_infer::TextTokenizer> = OnceLock::new();
    T.get_or_init(|| {
        glassbox_infer::TextTokenizer::load(&fixture_model())
            .expect("loading the fixture tokenizer")
    })
}

/// A chat template (UTF-8 text) compiled and rendered over a conversation with a system
/// prompt, tool calls and a tool answer; the render is bounded by fuel and output size.
pub(crate) fn chat_template(_dir: &Path, data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let tok = fixture_tokenizer();
    let Ok(t) = glassbox_infer::ChatTemplate::new(src, "chat_template.jinja", tok) else {
        return;
    };
    let messages = [
        serde_json::json!({"role": "system", "content": "Be brief."}),
        serde_json::json!({"role": "user", "content": "What is 2+2?"}),
        serde_json::json!({"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "add", "arguments": {"a": 2, "b": 2}}}
        ]}),
        serde_json::json!({"role": "tool", "content": "4"}),
        serde_json::json!({"role": "assistant", "content": "4"}),
        serde_json::json!({"role": "user", "content": [{"type": "text", "text": "Thanks"}]}),
    ];
    let mut extra = serde_json::Map::new();
    let _ = t.render(&messages, true, &extra);
    extra.insert(
        "tools".into(),
        serde_json::json!([{"type": "function", "function": {"name": "add", "parameters": {}}}]),
    );
    let _ = t.render(&messages[1..2], false, &extra);
}

/// A training recipe (`recipe.toml`), then its derived schedule and model configuration.
pub(crate) fn recipe(dir: &Path, data: &[u8]) {
    clear(dir);
    let p = put(dir, "recipe.toml", data);
    if let Ok(r) = glassbox_train::recipe::Recipe::from_file(&p) {
        let total = r.total_steps();
        let _ = r.min_lr();
        for step in [0, 1, total / 2, total] {
            let _ = r.checkpoints.scheduled(step, total);
            let _ = glassbox_train::optim::learning_rate(&r, step, total);
        }
        let _ = r.resolve(&p, 256);
    }
}

/// The JSON documents glassbox reads back: a dataset's `datasheet.json` (first byte % 3 == 0),
/// its `manifest.json` (1) and a bundle's `MANIFEST.json` (2).
pub(crate) fn manifests(dir: &Path, data: &[u8]) {
    clear(dir);
    let (k, data) = split(data);
    match k % 3 {
        0 => {
            put(dir, "datasheet.json", data);
            if let Ok(d) = glassbox_data::datasheet::Datasheet::read(dir) {
                let _ = d.markdown();
            }
        }
        1 => {
            put(dir, "manifest.json", data);
            if let Ok(mut ds) = glassbox_data::dataset::Dataset::open(dir) {
                let _ = ds.num_samples(16);
                let _ = ds.read("train", 0, 16);
            }
        }
        _ => {
            put(dir, "MANIFEST.json", data);
            let _ = glassbox_release::manifest::read(dir);
        }
    }
}

/// Token files by their headers: a glassbox shard (first byte % 5 == 0), an order file (1), a
/// Megatron `.idx` + `.bin` pair (2: the next two bytes give the `.idx` length), a nanoGPT
/// `train.bin` (3) and an llm.c shard (4).
pub(crate) fn token_files(dir: &Path, data: &[u8]) {
    use glassbox_data::interop::{ImportFormat, read_megatron, read_tokens};
    clear(dir);
    let (k, data) = split(data);
    match k % 5 {
        0 => {
            let p = put(dir, "train-00000.bin", data);
            if let Ok(mut s) = glassbox_data::shards::Shard::open(&p) {
                let n = s.count.min(4096) as usize;
                let _ = s.read(0, n);
                let _ = s.read(s.count.saturating_sub(1), 1);
                let _ = s.read(u64::MAX, 2);
            }
        }
        1 => {
            let p = put(dir, "order.bin", data);
            let _ = glassbox_data::dataset::read_order(&p);
        }
        2 => {
            let (n, rest) = match data {
                [a, b, rest @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), rest),
                _ => (0, data),
            };
            let (idx, bin) = rest.split_at(n.min(rest.len()));
            put(dir, "ds.idx", idx);
            put(dir, "ds.bin", bin);
            let _ = read_megatron(&dir.join("ds"));
        }
        3 => {
            let p = put(dir, "train.bin", data);
            let _ = read_tokens(&p, ImportFormat::NanoGpt);
        }
        _ => {
            let p = put(dir, "shard.bin", data);
            let _ = read_tokens(&p, ImportFormat::Llmc);
        }
    }
}

/// The HTTP server over the tiny test model, small limits so a request stays quick.
pub(crate) struct Http {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
}

/// The endpoints that take a body, by the input's first byte.
pub(crate) const HTTP_ENDPOINTS: [&str; 4] = [
    "/v1/completions",
    "/v1/chat/completions",
    "/tokenize",
    "/detokenize",
];

impl Http {
    /// Loads the model and builds the router.
    pub(crate) fn new() -> Self {
        use glassbox_serve::state::{AppState, Limits, ModelSpec};
        let specs = [ModelSpec {
            name: "llama".into(),
            dir: fixture_model(),
            adapter: None,
        }];
        let limits = Limits {
            max_tokens: 4,
            max_n: 2,
            max_prompts: 4,
            max_logprobs: 5,
            ..Limits::default()
        };
        let state = AppState::load(&specs, Default::default(), limits, None)
            .expect("loading the fixture model");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        Self {
            rt,
            app: glassbox_serve::routes::app(Arc::new(state)),
        }
    }

    /// Sends the rest of `data` as the body of the endpoint its first byte chooses and reads
    /// the whole answer (streams to their end). Returns the status and the body.
    pub(crate) fn call(&self, data: &[u8]) -> (u16, Vec<u8>) {
        use tower::ServiceExt;
        let (k, body) = split(data);
        let uri = HTTP_ENDPOINTS[usize::from(k) % HTTP_ENDPOINTS.len()];
        let req = axum::http::Request::builder()
            .method("POST")
            .uri(uri)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.to_vec()))
            .expect("a request");
        self.rt.block_on(async {
            let res = self.app.clone().oneshot(req).await.expect("infallible");
            let status = res.status().as_u16();
            let bytes = axum::body::to_bytes(res.into_body(), 64 << 20)
                .await
                .expect("reading the answer");
            (status, bytes.to_vec())
        })
    }
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

/// What every answer must be: a status a client can act on (never 500) and a body that is JSON,
/// or server-sent events whose every `data:` line is JSON or `[DONE]`.
pub(crate) fn check_http_answer(status: u16, body: &[u8]) {
    assert!(
        matches!(status, 200 | 400 | 404 | 413 | 415 | 422 | 429),
        "status {status}: {}",
        String::from_utf8_lossy(body)
    );
    let text = std::str::from_utf8(body).expect("the answer is UTF-8");
    if text.starts_with("data:") {
        for line in text.lines().filter(|l| !l.is_empty()) {
            let data = line.strip_prefix("data: ").expect("an SSE data line");
            assert!(
                data == "[DONE]" || serde_json::from_str::<serde_json::Value>(data).is_ok(),
                "SSE event is not JSON: {data}"
            );
        }
    } else {
        serde_json::from_str::<serde_json::Value>(text).expect("the answer is JSON");
    }
}

/// One HTTP input, checked.
pub(crate) fn http(server: &Http, data: &[u8]) {
    let (status, body) = server.call(data);
    check_http_answer(status, &body);
}

/// A scratch directory for one fuzzing process (in `/dev/shm` when there is one: the inputs are
/// written once per execution).
pub(crate) fn scratch() -> std::path::PathBuf {
    let base = Path::new("/dev/shm");
    let base = if base.is_dir() {
        base.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("glassbox-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("creating the scratch directory");
    dir
}
