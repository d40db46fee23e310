//! Built-in tasks, written out as ordinary task files so they run, cache and reproduce like a
//! user's: `heldout` — rolling perplexity (bits per byte) over the held-out documents of a
//! tokenised dataset, decoded with its tokenizer.

use std::path::Path;

use glassbox_data::dataset::Dataset;

use crate::task::TaskConfig;
use crate::{EvalError, Result};

/// Names `--task` accepts besides task files.
pub const BUILTIN: [&str; 1] = ["heldout"];

/// Writes `dir/heldout.jsonl` (one `{"id", "source", "text"}` per held-out document of the
/// dataset at `dataset`) and `dir/heldout.yaml` (a `loglikelihood_rolling` task over their
/// text) and loads the task.
pub fn heldout_task(dataset: &Path, dir: &Path) -> Result<TaskConfig> {
    let mut lines = String::new();
    for (d, text) in Dataset::open(dataset)?.heldout_texts()? {
        lines.push_str(
            &serde_json::json!({"id": d.id, "source": d.source, "text": text}).to_string(),
        );
        lines.push('\n');
    }
    if lines.is_empty() {
        return Err(EvalError::Request(format!(
            "{}: the dataset has no held-out documents",
            dataset.display()
        )));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| EvalError::Request(format!("{}: {e}", dir.display())))?;
    glassbox_core::fsio::atomic_write(&dir.join("heldout.jsonl"), lines.as_bytes())?;
    // An absolute data path: a relative one is looked for in the working directory first.
    let data = std::path::absolute(dir.join("heldout.jsonl"))
        .unwrap_or_else(|_| dir.join("heldout.jsonl"));
    let yaml = format!(
        "# Written by glassbox eval: the held-out documents of the training dataset.\n\
task: heldout\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {:?}\n\
output_type: loglikelihood_rolling\ntest_split: test\ndoc_to_text: \"\"\ndoc_to_target: \"{{{{text}}}}\"\n",
        data.display().to_string()
    );
    let path = dir.join("heldout.yaml");
    glassbox_core::fsio::atomic_write(&path, yaml.as_bytes())?;
    TaskConfig::load(&path)
}

/// Writes a `loglikelihood_rolling` task over the UTF-8 text of `file` (one document, the whole
/// file) into `dir` as `<name>.yaml` and `<name>.jsonl`, and loads it: bits per byte of any text.
pub fn text_task(file: &Path, name: &str, dir: &Path) -> Result<TaskConfig> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        EvalError::Request(format!(
            "{}: {e} (a UTF-8 text file is needed)",
            file.display()
        ))
    })?;
    if text.is_empty() {
        return Err(EvalError::Request(format!("{}: empty", file.display())));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| EvalError::Request(format!("{}: {e}", dir.display())))?;
    let data = dir.join(format!("{name}.jsonl"));
    let line = serde_json::json!({"text": text}).to_string() + "\n";
    glassbox_core::fsio::atomic_write(&data, line.as_bytes())?;
    let yaml = format!(
        "# Written by glassbox eval --text.\ntask: {name:?}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {:?}\noutput_type: loglikelihood_rolling\ntest_split: test\ndoc_to_text: \"\"\ndoc_to_target: text\n",
        std::path::absolute(&data)
            .unwrap_or(data.clone())
            .display()
            .to_string()
    );
    let path = dir.join(format!("{name}.yaml"));
    glassbox_core::fsio::atomic_write(&path, yaml.as_bytes())?;
    TaskConfig::load(&path)
}
