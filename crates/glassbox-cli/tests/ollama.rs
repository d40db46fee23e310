//! `glassbox convert --to ollama`: a model directory as a GGUF file and a Modelfile that
//! `ollama create` reads — parsed here as Ollama parses it, its TEMPLATE rendered as Ollama
//! renders it and compared with the model's Jinja template; a template that does not fit is
//! refused before anything is written.

#![allow(clippy::unwrap_used)]

mod common;
#[path = "../../glassbox-infer/tests/go_template/mod.rs"]
mod go_template;

use std::path::{Path, PathBuf};

use glassbox_infer::{ChatTemplate, TextTokenizer};
use glassbox_model::gguf::{GgufFile, Value};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// The Llama fixture as a model the GGUF export takes (plain RoPE), with Llama 3's chat
/// template and a licence file.
fn model(dir: &Path) -> PathBuf {
    let m = dir.join("tiny-chat");
    std::fs::create_dir_all(&m).unwrap();
    let src = fixtures().join("models/llama");
    for f in std::fs::read_dir(&src).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), m.join(f.file_name())).unwrap();
    }
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(m.join("config.json")).unwrap()).unwrap();
    cfg["rope_parameters"] = serde_json::json!({"rope_theta": 500000.0, "rope_type": "default"});
    cfg["rope_scaling"] = serde_json::Value::Null;
    std::fs::write(m.join("config.json"), cfg.to_string()).unwrap();
    std::fs::copy(
        fixtures().join("ollama/llama3.jinja"),
        m.join("chat_template.jinja"),
    )
    .unwrap();
    std::fs::write(
        m.join("LICENSE"),
        "Test licence \"terms\".\n\nUse freely.\n",
    )
    .unwrap();
    m
}

/// The commands of a Modelfile as Ollama's parser reads them: `NAME value` lines, `#`
/// comments, values in `"…"` or `"""…"""` (which may span lines).
fn parse_modelfile(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        rest = rest.trim_start();
        if rest.starts_with('#') {
            rest = rest.split_once('\n').map_or("", |(_, r)| r);
            continue;
        }
        if rest.is_empty() {
            break;
        }
        let (name, after) = rest.split_once(' ').unwrap();
        let mut name = name.to_ascii_uppercase();
        let mut after = after.trim_start();
        if name == "PARAMETER" {
            let (p, a) = after.split_once(' ').unwrap();
            name = format!("PARAMETER {p}");
            after = a.trim_start();
        }
        let (value, r) = if let Some(v) = after.strip_prefix("\"\"\"") {
            let end = v.find("\"\"\"").unwrap();
            (v[..end].to_string(), &v[end + 3..])
        } else if let Some(v) = after.strip_prefix('"') {
            let end = v.find('"').unwrap();
            (v[..end].to_string(), &v[end + 1..])
        } else {
            let (v, r) = after.split_once('\n').unwrap_or((after, ""));
            (v.trim().to_string(), r)
        };
        out.push((name, value));
        rest = r;
    }
    out
}

fn convert(args: &[&str]) -> (String, String, i32) {
    let mut all = vec!["convert", "--to", "ollama"];
    all.extend_from_slice(args);
    common::run(&all)
}

#[test]
fn a_model_converts_to_a_gguf_file_and_a_modelfile_ollama_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let m = model(tmp.path());
    let out = tmp.path().join("ollama");
    let (_, e, c) = convert(&[
        "--model",
        m.to_str().unwrap(),
        "--quant",
        "q8_0",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{e}");
    assert!(e.contains("ollama create tiny-chat -f"), "{e}");
    let text = std::fs::read_to_string(out.join("Modelfile")).unwrap();
    assert!(text.starts_with("# Modelfile for Ollama, written by glassbox "));
    let weights = glassbox_model::checkpoints::weights_sha256(&m).unwrap();
    assert!(text.contains(&weights), "{text}");
    let cmds = parse_modelfile(&text);
    let get = |k: &str| -> Vec<&str> {
        cmds.iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .collect()
    };

    // FROM names the GGUF beside the Modelfile, a valid file with the tokenizer.
    assert_eq!(get("FROM"), vec!["./tiny-chat.gguf"]);
    let gguf = GgufFile::open(&out.join("tiny-chat.gguf")).unwrap();
    assert_eq!(
        gguf.get("general.architecture"),
        Some(&Value::String("llama".into()))
    );
    assert!(gguf.get("tokenizer.ggml.tokens").is_some());
    let adds_bos = gguf.get("tokenizer.ggml.add_bos_token") == Some(&Value::Bool(true));

    // Stops: the end-of-turn token (template and eos) and every EOS id of generation_config.
    let stops = get("PARAMETER stop");
    assert!(stops.contains(&"<|eot_id|>"), "{stops:?}");
    assert!(stops.contains(&"<|end_of_text|>"), "{stops:?}");
    assert_eq!(get("PARAMETER num_ctx"), vec!["256"]);
    assert_eq!(get("PARAMETER temperature"), vec!["0"]);
    assert_eq!(
        get("LICENSE"),
        vec!["Test licence \"terms\".\n\nUse freely."]
    );

    // The TEMPLATE, rendered as Ollama renders it, is the Jinja render with the generation
    // prompt (less the BOS the runtime adds).
    let template = get("TEMPLATE");
    assert_eq!(template.len(), 1);
    let tk = TextTokenizer::load(&m).unwrap();
    let jinja = ChatTemplate::from_tokenizer(&tk).unwrap().unwrap();
    for conv in [
        vec![("user", "Hi there")],
        vec![
            ("system", "Answer in French."),
            ("user", "Hello"),
            ("assistant", "Bonjour"),
            ("user", "Thanks"),
        ],
    ] {
        let msgs: Vec<serde_json::Value> = conv
            .iter()
            .map(|(r, c)| serde_json::json!({"role": r, "content": c}))
            .collect();
        let want = jinja.render(&msgs, true, &serde_json::Map::new()).unwrap();
        let want = if adds_bos {
            want.strip_prefix("<|begin_of_text|>").unwrap().to_string()
        } else {
            want
        };
        let got = go_template::render(template[0], &go_template::ollama_values(&conv)).unwrap();
        assert_eq!(got, want);
    }
}

#[test]
fn a_template_that_does_not_fit_is_refused_unless_one_is_given() {
    let tmp = tempfile::tempdir().unwrap();
    let m = model(tmp.path());
    // The fixture's own template counts the user turns in its header.
    std::fs::copy(
        fixtures().join("models/llama/chat_template.jinja"),
        m.join("chat_template.jinja"),
    )
    .unwrap();
    let out = tmp.path().join("refused");
    let (_, e, c) = convert(&[
        "--model",
        m.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_ne!(c, 0);
    assert!(
        e.contains("chat_template.jinja")
            && e.contains("Ollama template")
            && e.contains("--template-go"),
        "{e}"
    );
    assert!(!out.exists(), "nothing is written for a refused template");

    // A Go template written by hand goes in as it is.
    let go = tmp.path().join("template.gotmpl");
    let text = "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>\n{{- end }}<|start_header_id|>assistant<|end_header_id|>\n\n";
    std::fs::write(&go, text).unwrap();
    let (_, e, c) = convert(&[
        "--model",
        m.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--template-go",
        go.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{e}");
    let cmds = parse_modelfile(&std::fs::read_to_string(out.join("Modelfile")).unwrap());
    let t: Vec<_> = cmds.iter().filter(|(n, _)| n == "TEMPLATE").collect();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].1, text);

    // --template-go belongs to --to ollama.
    let (_, e, c) = common::run(&[
        "convert",
        "--model",
        m.to_str().unwrap(),
        "--out",
        tmp.path().join("hf").to_str().unwrap(),
        "--template-go",
        go.to_str().unwrap(),
    ]);
    assert_ne!(c, 0);
    assert!(e.contains("--template-go goes with --to ollama"), "{e}");
}
