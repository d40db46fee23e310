//! Task definitions in lm-evaluation-harness's YAML dialect — the subset local tasks use — and
//! their documents.
//!
//! ```yaml
//! task: verse_mc
//! dataset_path: json
//! dataset_kwargs:
//!   data_files: {test: verses.jsonl, train: shots.jsonl}
//! output_type: multiple_choice          # or loglikelihood_rolling
//! test_split: test
//! fewshot_split: train
//! doc_to_text: "{{context}}"            # a column name, or a Jinja template
//! doc_to_target: "{{label}}"            # a column, an int, or a template
//! doc_to_choice: "{{endings}}"          # a column, a YAML list, or a template rendering a list
//! num_fewshot: 2
//! ```
//!
//! Fields are resolved as lm-eval resolves them: a string naming a column gives the column's
//! value; any other string is a Jinja template rendered with the document's fields (undefined
//! names are errors; values render as Python's `str()` would); a rendered target made of digits
//! becomes an index when the task has choices; a rendered choice list is read as a Python list
//! literal. Data files are JSON lines or a JSON array, resolved from the working directory as
//! lm-eval does, else from the YAML file's directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::{EvalError, Result};

/// A field spec: a string (column or template), an integer, or a list.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Spec {
    /// An integer (a fixed target index).
    Int(i64),
    /// A column name or a Jinja template.
    Text(String),
    /// A literal list (choices, or several targets).
    List(Vec<Value>),
}

/// `dataset_kwargs.data_files`: one file (split `train`), a list (split `train`) or split → file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum DataFiles {
    /// One file: the `train` split.
    One(String),
    /// Several files: the `train` split.
    Many(Vec<String>),
    /// Split name → file(s).
    Splits(BTreeMap<String, OneOrMany>),
}

/// A file or a list of files.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One file.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// `dataset_kwargs`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DatasetKwargs {
    /// The data files.
    pub data_files: DataFiles,
}

/// `fewshot_config`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct FewshotConfig {
    /// `default` (seeded random sample) or `first_n`.
    #[serde(default)]
    pub sampler: Option<String>,
}

/// A task YAML, as lm-eval reads it (the supported subset; unknown keys are kept and ignored
/// only when lm-eval uses them for things glassbox does not need, see [`TaskConfig::load`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TaskConfig {
    /// Task name.
    pub task: String,
    /// Must be `json`.
    pub dataset_path: String,
    /// Must be null.
    #[serde(default)]
    pub dataset_name: Option<String>,
    /// The data files.
    pub dataset_kwargs: DatasetKwargs,
    /// `multiple_choice`, `loglikelihood` or `loglikelihood_rolling`.
    pub output_type: String,
    /// Split the few-shot fallback reads first.
    #[serde(default)]
    pub training_split: Option<String>,
    /// Evaluated when there is no test split.
    #[serde(default)]
    pub validation_split: Option<String>,
    /// The evaluated split.
    #[serde(default)]
    pub test_split: Option<String>,
    /// Where few-shot examples come from.
    #[serde(default)]
    pub fewshot_split: Option<String>,
    /// The question.
    #[serde(default)]
    pub doc_to_text: Option<Spec>,
    /// The answer (index, string, or for rolling tasks the text).
    #[serde(default)]
    pub doc_to_target: Option<Spec>,
    /// The choices.
    #[serde(default)]
    pub doc_to_choice: Option<Spec>,
    /// Text before the few-shot examples (a column or template).
    #[serde(default)]
    pub description: Option<String>,
    /// Between question and answer. Default `" "`.
    #[serde(default = "d_target_delim")]
    pub target_delimiter: String,
    /// After each few-shot example. Default `"\n\n"`.
    #[serde(default = "d_fewshot_delim")]
    pub fewshot_delimiter: String,
    /// Few-shot examples per context. Default 0.
    #[serde(default)]
    pub num_fewshot: Option<usize>,
    /// The few-shot sampler.
    #[serde(default)]
    pub fewshot_config: Option<FewshotConfig>,
    /// Metrics asked for (checked against what the output type gives).
    #[serde(default)]
    pub metric_list: Option<Vec<Value>>,
    /// Free-form metadata (version …), ignored.
    #[serde(default)]
    pub metadata: Option<Value>,
    /// Tags, ignored.
    #[serde(default)]
    pub tag: Option<Value>,
    /// The YAML file (set by [`TaskConfig::load`]).
    #[serde(skip)]
    pub path: PathBuf,
}

fn d_target_delim() -> String {
    " ".into()
}
fn d_fewshot_delim() -> String {
    "\n\n".into()
}

/// Keys of lm-eval task YAMLs that glassbox refuses rather than ignore, because ignoring them
/// would change the numbers.
const UNSUPPORTED: [&str; 8] = [
    "include",
    "process_docs",
    "process_results",
    "filter_list",
    "generation_kwargs",
    "use_prompt",
    "doc_to_decontamination_query",
    "gen_prefix",
];

impl TaskConfig {
    /// Reads and checks the task YAML at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| EvalError::Task {
            task: path.display().to_string(),
            path: path.to_path_buf(),
            message: format!("cannot read: {e}"),
        })?;
        if text.contains("!function") {
            return Err(EvalError::Task {
                task: path.display().to_string(),
                path: path.to_path_buf(),
                message: "`!function` (Python code) is not supported by glassbox eval".into(),
            });
        }
        let raw: Value = serde_norway::from_str(&text).map_err(|e| EvalError::Task {
            task: path.display().to_string(),
            path: path.to_path_buf(),
            message: format!("not YAML: {e}"),
        })?;
        let name = raw
            .get("task")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        let err = |m: String| EvalError::Task {
            task: name.clone(),
            path: path.to_path_buf(),
            message: m,
        };
        if let Some(obj) = raw.as_object() {
            for k in UNSUPPORTED {
                if obj.contains_key(k) {
                    return Err(err(format!("`{k}` is not supported by glassbox eval")));
                }
            }
        }
        let mut cfg: Self = serde_json::from_value(raw.clone())
            .map_err(|e| err(format!("missing or invalid field: {e}")))?;
        cfg.path = path.to_path_buf();
        if cfg.dataset_path != "json" {
            return Err(err(format!(
                "dataset_path `{}`: only local `json` datasets are supported (no hub downloads)",
                cfg.dataset_path
            )));
        }
        match cfg.output_type.as_str() {
            "multiple_choice" => {
                for (k, v) in [
                    ("doc_to_text", &cfg.doc_to_text),
                    ("doc_to_target", &cfg.doc_to_target),
                    ("doc_to_choice", &cfg.doc_to_choice),
                ] {
                    if v.is_none() {
                        return Err(err(format!("`{k}` is missing (multiple_choice needs it)")));
                    }
                }
            }
            "loglikelihood" => {
                for (k, v) in [
                    ("doc_to_text", &cfg.doc_to_text),
                    ("doc_to_target", &cfg.doc_to_target),
                ] {
                    if v.is_none() {
                        return Err(err(format!("`{k}` is missing (loglikelihood needs it)")));
                    }
                }
                if cfg.num_fewshot.unwrap_or(0) > 0 {
                    return Err(err(
                        "num_fewshot > 0 is supported for multiple_choice only".into()
                    ));
                }
            }
            "loglikelihood_rolling" => {
                if cfg.doc_to_target.is_none() {
                    return Err(err(
                        "`doc_to_target` is missing (loglikelihood_rolling scores it)".into(),
                    ));
                }
            }
            other => {
                return Err(err(format!(
                    "output_type `{other}`: glassbox eval runs multiple_choice, loglikelihood and loglikelihood_rolling"
                )));
            }
        }
        if let Some(s) = cfg
            .fewshot_config
            .as_ref()
            .and_then(|f| f.sampler.as_deref())
            && !matches!(s, "default" | "first_n")
        {
            return Err(err(format!(
                "fewshot_config.sampler `{s}`: use default or first_n"
            )));
        }
        Ok(cfg)
    }

    /// The evaluated split: `test_split`, else `validation_split`.
    pub fn eval_split(&self) -> Result<&str> {
        self.test_split
            .as_deref()
            .or(self.validation_split.as_deref())
            .ok_or_else(|| self.err("neither test_split nor validation_split is set"))
    }

    /// The few-shot pool's split: `fewshot_split`, else training, validation, test.
    pub fn fewshot_pool_split(&self) -> Option<&str> {
        self.fewshot_split
            .as_deref()
            .or(self.training_split.as_deref())
            .or(self.validation_split.as_deref())
            .or(self.test_split.as_deref())
    }

    /// An error about this task.
    pub fn err(&self, message: impl Into<String>) -> EvalError {
        EvalError::Task {
            task: self.task.clone(),
            path: self.path.clone(),
            message: message.into(),
        }
    }

    /// The documents of `split`, in file order.
    pub fn docs(&self, split: &str) -> Result<Vec<Value>> {
        let files: Vec<String> = match &self.dataset_kwargs.data_files {
            DataFiles::One(f) if split == "train" => vec![f.clone()],
            DataFiles::Many(f) if split == "train" => f.clone(),
            DataFiles::Splits(m) => match m.get(split) {
                Some(OneOrMany::One(f)) => vec![f.clone()],
                Some(OneOrMany::Many(f)) => f.clone(),
                None => {
                    return Err(self.err(format!(
                        "no data file for split `{split}` in dataset_kwargs.data_files"
                    )));
                }
            },
            _ => {
                return Err(self.err(format!(
                    "split `{split}`: a data_files without split names gives only `train`"
                )));
            }
        };
        let mut docs = Vec::new();
        for f in files {
            let p = self.resolve(&f);
            let text = std::fs::read_to_string(&p)
                .map_err(|e| self.err(format!("data file {}: {e}", p.display())))?;
            if text.trim_start().starts_with('[') {
                let v: Vec<Value> = serde_json::from_str(&text).map_err(|e| {
                    self.err(format!("{}: not a JSON array of objects: {e}", p.display()))
                })?;
                docs.extend(v);
            } else {
                for (i, line) in text.lines().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let v: Value = serde_json::from_str(line).map_err(|e| {
                        self.err(format!("{} line {}: not JSON: {e}", p.display(), i + 1))
                    })?;
                    docs.push(v);
                }
            }
        }
        for (i, d) in docs.iter().enumerate() {
            if !d.is_object() {
                return Err(self.err(format!("split `{split}`, document {i}: not a JSON object")));
            }
        }
        Ok(docs)
    }

    /// A data file path: from the working directory when it exists there, else beside the YAML.
    fn resolve(&self, f: &str) -> PathBuf {
        let p = PathBuf::from(f);
        if p.is_absolute() || p.exists() {
            return p;
        }
        self.path.parent().map_or(p.clone(), |d| d.join(&p))
    }
}
