//! Chat templates as Ollama templates: for each family in `tests/fixtures/ollama/families.json`
//! the Go template glassbox writes, rendered under Ollama's rules by the test's Go-template
//! renderer, equals the Jinja render with the generation prompt (the runtime's BOS taken off)
//! on every fixture conversation; templates that do not fit are refused by name.

#![allow(clippy::unwrap_used)]

mod go_template;

use std::path::{Path, PathBuf};

use glassbox_infer::ollama_template::{SystemForm, TurnStructure};
use glassbox_infer::{ChatTemplate, TextTokenizer};
use serde_json::{Value, json};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// The template text of `path` (a `.jinja` file, or the `chat_template` of a JSON config).
fn template_text(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    if path.extension().is_some_and(|e| e == "json") {
        let v: Value = serde_json::from_str(&text).unwrap();
        v["chat_template"].as_str().unwrap().to_string()
    } else {
        text
    }
}

/// A tokenizer carrying the family's special tokens (the template only reads those).
fn tokenizer(bos: Option<&str>, eos: &str) -> TextTokenizer {
    let mut tk = TextTokenizer::load(&fixtures().join("models/llama")).unwrap();
    tk.bos_token = bos.map(String::from);
    tk.eos_token = Some(eos.to_string());
    tk
}

/// The conversations compared: one user turn, a system prompt, several turns, contents with
/// inner newlines and spaces.
fn conversations() -> Vec<Vec<(&'static str, &'static str)>> {
    vec![
        vec![("user", "Hello!")],
        vec![
            ("system", "You answer in one word."),
            ("user", "What colour is the sky?"),
        ],
        vec![
            ("user", "Name a fruit."),
            ("assistant", "Apple."),
            ("user", "Another one,\nplease."),
        ],
        vec![
            ("system", "Be brief.\nBe kind."),
            ("user", "Hi"),
            ("assistant", "Hello."),
            ("user", "How are you?"),
            ("assistant", "Well, thanks."),
            ("user", "Bye {{ .System }}"),
        ],
    ]
}

fn jinja(t: &ChatTemplate, msgs: &[(&str, &str)]) -> String {
    let msgs: Vec<Value> = msgs
        .iter()
        .map(|(r, c)| json!({"role": r, "content": c}))
        .collect();
    t.render(&msgs, true, &serde_json::Map::new()).unwrap()
}

#[test]
fn each_family_template_renders_the_same_in_go_as_in_jinja() {
    let dir = fixtures().join("ollama");
    let families: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("families.json")).unwrap()).unwrap();
    let mut passed = Vec::new();
    for f in &families {
        let name = f["name"].as_str().unwrap();
        let text = template_text(&dir.join(f["template"].as_str().unwrap()));
        let tk = tokenizer(f["bos"].as_str(), f["eos"].as_str().unwrap());
        let t = ChatTemplate::new(&text, name, &tk).unwrap();
        let expect = f["system"].as_str().unwrap();
        for runtime_bos in [true, false] {
            let s = TurnStructure::derive(&t, name, tk.bos_token.as_deref(), runtime_bos);
            if expect == "refused" {
                let e = s.unwrap_err().to_string();
                assert!(e.contains(name) && e.contains("Ollama"), "{e}");
                continue;
            }
            let s = s.unwrap_or_else(|e| panic!("{name}: {e}"));
            let form = match s.system {
                SystemForm::Unsupported => "unsupported",
                SystemForm::Turn { .. } => "turn",
                SystemForm::FoldedIntoFirstUser { .. } => "folded",
            };
            assert_eq!(form, expect, "{name}");
            let go = s.go_template();
            assert!(!go.contains("\"\"\""), "{name}: {go}");
            for conv in conversations() {
                if s.system == SystemForm::Unsupported && conv[0].0 == "system" {
                    continue;
                }
                let want = s.expected(&jinja(&t, &conv));
                let got = go_template::render(&go, &go_template::ollama_values(&conv))
                    .unwrap_or_else(|e| panic!("{name}: {e}\n{go}"));
                assert_eq!(
                    got, want,
                    "{name} (runtime BOS {runtime_bos}) on {conv:?}\n{go}"
                );
                assert_eq!(s.render(&conv), want, "{name}");
            }
            if runtime_bos && let Some(b) = &tk.bos_token {
                // The runtime's BOS is not written twice.
                assert!(!go.starts_with(b.as_str()), "{name}: {go}");
            }
        }
        passed.push(name);
    }
    assert_eq!(passed.len(), families.len());
}

#[test]
fn the_go_templates_read_as_ollama_writes_them() {
    let text = template_text(&fixtures().join("ollama/llama3.jinja"));
    let tk = tokenizer(Some("<|begin_of_text|>"), "<|eot_id|>");
    let t = ChatTemplate::new(&text, "llama3", &tk).unwrap();
    let s = TurnStructure::derive(&t, "llama3", Some("<|begin_of_text|>"), true).unwrap();
    assert_eq!(
        s.go_template(),
        "{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}\n\
         {{- range .Messages }}\n\
         {{- if eq .Role \"user\" }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Content }}<|eot_id|>\n\
         {{- else if eq .Role \"assistant\" }}<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Content }}<|eot_id|>\n\
         {{- end }}\n\
         {{- end }}<|start_header_id|>assistant<|end_header_id|>\n\n"
    );
    assert!(s.trims_content);
    assert_eq!(s.terminators(), vec!["<|eot_id|>".to_string()]);
}

#[test]
fn the_renderer_follows_go_trim_markers_and_variables() {
    let v = go_template::ollama_values(&[("system", "S"), ("user", "U")]);
    let out = go_template::render(
        "a  {{- $x := .System }}\n{{- range $i, $m := .Messages }}[{{ $i }}:{{ $m.Role }}{{ if $x }}*{{ $x = \"\" }}{{ end }}]{{ end -}}\n z{{ \"{{\" }}",
        &v,
    )
    .unwrap();
    assert_eq!(out, "a[0:system*][1:user]z{{");
}
