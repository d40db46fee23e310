//! Built-in tasks, written out as ordinary task files so they run, cache and reproduce like a
//! user's, made from the held-out documents of a tokenised dataset (decoded with its
//! tokenizer): `heldout` — rolling perplexity (bits per byte) over them; `cloze` and `follows`
//! — [`crate::corpus_tasks`]' last-word cloze and "which line follows".

use std::path::Path;

use glassbox_data::dataset::Dataset;

use crate::corpus_tasks::{CorpusTaskOptions, write_corpus_task, write_task};
use crate::task::TaskConfig;
use crate::{EvalError, Result};

/// Names `--task` accepts besides task files (with a run or dataset: made from its held-out
/// documents).
pub const BUILTIN: [&str; 3] = ["heldout", "cloze", "follows"];

/// The held-out documents of the dataset at `dataset`: (id, text).
fn heldout_docs(dataset: &Path) -> Result<Vec<(String, String)>> {
    let docs: Vec<(String, String)> = Dataset::open(dataset)?
        .heldout_texts()?
        .into_iter()
        .map(|(d, t)| (d.id, t))
        .collect();
    if docs.is_empty() {
        return Err(EvalError::Request(format!(
            "{}: the dataset has no held-out documents",
            dataset.display()
        )));
    }
    Ok(docs)
}

/// The held-out texts of the dataset at `dataset` (for [`crate::corpus_tasks::write_parallel_task`]'s `keep`).
pub fn heldout_texts(dataset: &Path) -> Result<Vec<String>> {
    Ok(heldout_docs(dataset)?.into_iter().map(|d| d.1).collect())
}

/// Writes the built-in task `name` ([`BUILTIN`]) made from the held-out documents of the
/// dataset at `dataset` into `dir` and loads it.
pub fn builtin_task(
    name: &str,
    dataset: &Path,
    opts: &CorpusTaskOptions,
    dir: &Path,
) -> Result<TaskConfig> {
    if name == "heldout" {
        return heldout_task(dataset, dir);
    }
    write_corpus_task(name, &heldout_docs(dataset)?, opts, dir)
}

/// Writes `dir/heldout.jsonl` (one `{"id", "source", "text"}` per held-out document of the
/// dataset at `dataset`) and `dir/heldout.yaml` (a `loglikelihood_rolling` task over their
/// text) and loads the task.
pub fn heldout_task(dataset: &Path, dir: &Path) -> Result<TaskConfig> {
    let mut docs = Vec::new();
    for (d, text) in Dataset::open(dataset)?.heldout_texts()? {
        docs.push(serde_json::json!({"id": d.id, "source": d.source, "text": text}));
    }
    if docs.is_empty() {
        return Err(EvalError::Request(format!(
            "{}: the dataset has no held-out documents",
            dataset.display()
        )));
    }
    write_task(
        "heldout",
        &docs,
        "output_type: loglikelihood_rolling\ndoc_to_text: \"\"\ndoc_to_target: \"{{text}}\"\n",
        dir,
    )
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
    write_task(
        name,
        &[serde_json::json!({"text": text})],
        "output_type: loglikelihood_rolling\ndoc_to_text: \"\"\ndoc_to_target: text\n",
        dir,
    )
}
