//! Every seed of the fuzz targets (`fuzz/seeds/TARGET/`) and every crash they found
//! (`fuzz/regressions/TARGET/`) is run here through the same target code (`fuzz/src/targets.rs`,
//! included below), so a fixed crash stays fixed without the fuzzer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../fuzz/src/targets.rs"]
mod targets;

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut out = Vec::new();
    for kind in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(kind).join(target)) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_file() {
                let bytes = std::fs::read(&p).unwrap();
                out.push((p, bytes));
            }
        }
    }
    out.sort();
    out
}

fn replay(target: &str, f: impl Fn(&Path, &[u8])) {
    let all = inputs(target);
    assert!(!all.is_empty(), "no inputs for fuzz target {target}");
    let dir = tempfile::tempdir().unwrap();
    for (path, bytes) in all {
        // A panic names the input that caused it.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(dir.path(), &bytes)));
        assert!(r.is_ok(), "fuzz input {} panics", path.display());
    }
}

#[test]
fn gguf_inputs() {
    replay("gguf", targets::gguf);
}

#[test]
fn safetensors_header_inputs() {
    replay("safetensors_header", targets::safetensors_header);
}

#[test]
fn pickle_inputs() {
    replay("pickle", targets::pickle);
}

#[test]
fn card_inputs() {
    replay("card", targets::card);
}

#[test]
fn mot_inputs() {
    replay("mot", targets::mot);
}

#[test]
fn license_text_inputs() {
    replay("license_text", targets::license_text);
}

#[test]
fn model_safetensors_inputs() {
    replay("model_safetensors", targets::model_safetensors);
}

#[test]
fn model_config_inputs() {
    replay("model_config", targets::model_config);
}

#[test]
fn tokenizer_json_inputs() {
    replay("tokenizer_json", targets::tokenizer_json);
}

#[test]
fn chat_template_inputs() {
    replay("chat_template", targets::chat_template);
}

#[test]
fn recipe_inputs() {
    replay("recipe", targets::recipe);
}

#[test]
fn manifests_inputs() {
    replay("manifests", targets::manifests);
}

#[test]
fn token_files_inputs() {
    replay("token_files", targets::token_files);
}

#[test]
fn http_inputs() {
    let server = targets::Http::new();
    replay("http", |_, d| targets::http(&server, d));
}

/// The seeds are what they claim to be: each reaches past the parser's first checks, so the
/// fuzzer starts from inputs that exercise the whole path.
#[test]
fn seeds_are_valid_inputs_of_their_parsers() {
    use glassbox_data::interop::{ImportFormat, read_megatron, read_tokens};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let seed = |t: &str, n: &str| {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../fuzz/seeds")
                .join(t)
                .join(n),
        )
        .unwrap()
    };
    let write = |n: &str, b: &[u8]| {
        let p = d.join(n);
        std::fs::write(&p, b).unwrap();
        p
    };
    let st = write("m.safetensors", &seed("model_safetensors", "a.safetensors"));
    let f = glassbox_model::safetensors_io::SafetensorsFile::open(&st).unwrap();
    assert_eq!(f.tensors().len(), 6);
    for n in ["w.f32", "w.f16", "w.bf16", "w.f64", "s"] {
        f.load_f32(n, &candle_core::Device::Cpu).unwrap();
    }
    let shard = write("s.bin", &seed("token_files", "shard")[1..]);
    assert_eq!(
        glassbox_data::shards::Shard::open(&shard).unwrap().count,
        12
    );
    let order = write("o.bin", &seed("token_files", "order")[1..]);
    assert_eq!(
        glassbox_data::dataset::read_order(&order).unwrap().2,
        vec![2, 0, 1]
    );
    let mega = seed("token_files", "megatron");
    let n = usize::from(u16::from_le_bytes([mega[1], mega[2]]));
    write("ds.idx", &mega[3..3 + n]);
    write("ds.bin", &mega[3 + n..]);
    assert_eq!(read_megatron(&d.join("ds")).unwrap().len(), 3);
    let nano = write("train.bin", &seed("token_files", "nanogpt")[1..]);
    assert_eq!(
        read_tokens(&nano, ImportFormat::NanoGpt).unwrap().0.len(),
        12
    );
    let llmc = write("llmc.bin", &seed("token_files", "llmc")[1..]);
    assert_eq!(read_tokens(&llmc, ImportFormat::Llmc).unwrap().0.len(), 12);
    let recipe = write("recipe.toml", &seed("recipe", "train.toml"));
    glassbox_train::recipe::Recipe::from_file(&recipe).unwrap();
    let server = targets::Http::new();
    for i in 0..10 {
        let (status, body) = server.call(&seed("http", &format!("req{i}")));
        assert_eq!(status, 200, "req{i}: {}", String::from_utf8_lossy(&body));
    }
}

/// Regressions found by fuzzing `tokenizer.json`: files on which the tokenizers library panics
/// (deserialising a decoder, or encoding with a post-processor that names an undefined special
/// token) are refused when loaded, with an error naming the file.
#[test]
fn tokenizer_files_the_library_panics_on_are_refused_naming_the_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/tokenizer_json");
    for name in [
        "decoder-helper-panic",
        "template-processor-missing-special-token",
    ] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("tokenizer.json"), &bytes[1..]).unwrap();
        let e = glassbox_infer::TextTokenizer::load(tmp.path())
            .expect_err(name)
            .to_string();
        assert!(
            e.contains("tokenizer.json") && e.contains("tokenizers library"),
            "{name}: {e}"
        );
        let e = glassbox_data::tokenizer::load(&tmp.path().join("tokenizer.json"))
            .expect_err(name)
            .to_string();
        assert!(
            e.contains("tokenizer.json") && e.contains("tokenizers library"),
            "{name}: {e}"
        );
    }
}

/// Regression found by fuzzing chat templates: a template that stores a namespace in itself
/// overflowed the stack when rendered; it is now refused when loaded.
#[test]
fn a_template_that_stores_a_namespace_in_itself_is_refused_when_loaded() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions/chat_template/namespace-contains-itself.jinja");
    let src = std::fs::read_to_string(p).unwrap();
    let tok = glassbox_infer::TextTokenizer::load(&targets::fixture_model()).unwrap();
    let e = glassbox_infer::ChatTemplate::new(&src, "chat_template.jinja", &tok)
        .expect_err("refused")
        .to_string();
    assert!(e.contains("contain itself") && e.contains("line 21"), "{e}");
}
