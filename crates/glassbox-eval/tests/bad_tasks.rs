//! Bad task definitions and documents are refused with an error naming the task, the document
//! and the field.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use candle_core::Device;
use glassbox_eval::evaluate::{EvalOptions, evaluate};
use glassbox_eval::task::TaskConfig;
use glassbox_infer::Engine;

fn engine() -> Engine {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models/qwen2");
    Engine::load(&dir, &Device::Cpu).unwrap()
}

fn task(
    dir: &Path,
    name: &str,
    body: &str,
    docs: &str,
) -> Result<glassbox_eval::task::TaskConfig, String> {
    std::fs::write(dir.join(format!("{name}.jsonl")), docs).unwrap();
    let yaml = format!(
        "task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {}\noutput_type: multiple_choice\ntest_split: test\n{body}",
        dir.join(format!("{name}.jsonl")).display()
    );
    let p = dir.join(format!("{name}.yaml"));
    std::fs::write(&p, yaml).unwrap();
    TaskConfig::load(&p).map_err(|e| e.to_string())
}

#[test]
fn bad_tasks_name_the_task_document_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let e = engine();
    let run = |t: TaskConfig| evaluate(&t, &e, &EvalOptions::default()).map_err(|e| e.to_string());
    let fields = "doc_to_text: q\ndoc_to_target: label\ndoc_to_choice: opts\n";
    // A missing field.
    let err = task(
        tmp.path(),
        "nochoice",
        "doc_to_text: q\ndoc_to_target: label\n",
        "",
    )
    .unwrap_err();
    assert!(
        err.contains("task nochoice") && err.contains("`doc_to_choice` is missing"),
        "{err}"
    );
    // No choices.
    let t = task(
        tmp.path(),
        "empty",
        fields,
        "{\"q\": \"a\", \"label\": 0, \"opts\": []}\n",
    )
    .unwrap();
    let err = run(t).unwrap_err();
    assert!(
        err.contains("task empty, document 0") && err.contains("no choices"),
        "{err}"
    );
    // Gold out of range.
    let t = task(tmp.path(), "gold", fields, "{\"q\": \"a\", \"label\": 0, \"opts\": [\"x\"]}\n{\"q\": \"a\", \"label\": 3, \"opts\": [\"x\", \"y\"]}\n").unwrap();
    let err = run(t).unwrap_err();
    assert!(
        err.contains("document 1") && err.contains("gold index 3 is out of range"),
        "{err}"
    );
    // A template naming a field the document lacks.
    let t = task(
        tmp.path(),
        "undef",
        "doc_to_text: \"{{question}}\"\ndoc_to_target: label\ndoc_to_choice: opts\n",
        "{\"q\": \"a\", \"label\": 0, \"opts\": [\"x\"]}\n",
    )
    .unwrap();
    let err = run(t).unwrap_err();
    assert!(
        err.contains("document 0") && err.contains("doc_to_text") && err.contains("undefined"),
        "{err}"
    );
    // A hub dataset, Python code, an unknown output type.
    let err = task(tmp.path(), "hub", "dataset_path: hellaswag\n", "").unwrap_err();
    assert!(err.contains("task hub"), "{err}");
    let err = task(
        tmp.path(),
        "code",
        "process_docs: !function utils.process\n",
        "",
    )
    .unwrap_err();
    assert!(err.contains("`!function`"), "{err}");
    // A context longer than the window is cut from the left and counted.
    let long = "word ".repeat(200);
    let t = task(
        tmp.path(),
        "long",
        fields,
        &format!("{{\"q\": \"{long}\", \"label\": 0, \"opts\": [\"x\", \"y\"]}}\n"),
    )
    .unwrap();
    let opts = EvalOptions {
        max_length: Some(16),
        ..EvalOptions::default()
    };
    let r = evaluate(&t, &e, &opts).unwrap();
    assert_eq!(r.truncated, 2);
}
