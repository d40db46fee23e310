//! What the server holds: the models (each with its engine and scheduler), the limits, the API
//! key and the metrics.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use glassbox_infer::Engine;
use glassbox_infer::scheduler::{Scheduler, SchedulerOptions};

use crate::error::ApiError;
use crate::metrics::Metrics;

/// Per-request limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    /// Largest `max_tokens` a request may ask for.
    pub max_tokens: usize,
    /// Largest `n`.
    pub max_n: usize,
    /// Most prompts in one completions request.
    pub max_prompts: usize,
    /// Most `logprobs` / `top_logprobs` alternatives.
    pub max_logprobs: usize,
    /// Time allowed to receive a request body once its headers arrived.
    pub body_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            max_tokens: 4096,
            max_n: 16,
            max_prompts: 64,
            max_logprobs: 20,
            body_timeout: Duration::from_secs(10),
        }
    }
}

/// One served model.
#[derive(Debug)]
pub struct ModelEntry {
    /// The name clients use in `model`.
    pub name: String,
    /// The loaded model.
    pub engine: Arc<Engine>,
    /// Its continuous-batching scheduler.
    pub scheduler: Scheduler,
    /// Unix time it was loaded.
    pub created: u64,
    /// What the openness report audits for it: the adapter's directory when one is applied,
    /// else the model's directory (or the folder of a `.gguf` file).
    pub source: PathBuf,
}

/// Checkpoints loaded from the runs pages kept at once; loading another unloads the oldest.
pub const MAX_LOADED: usize = 4;

/// The shared state of every handler.
#[derive(Debug)]
pub struct AppState {
    /// Models, in the order given.
    pub models: Vec<Arc<ModelEntry>>,
    /// Checkpoints loaded since start from the runs pages ([`AppState::load_checkpoint`]),
    /// oldest first, at most [`MAX_LOADED`].
    pub loaded: Mutex<Vec<Arc<ModelEntry>>>,
    /// The scheduler options every model runs with.
    pub scheduler_options: SchedulerOptions,
    /// The folder of runs and bundles the runs pages list (`--runs DIR`), resolved.
    pub runs: Option<PathBuf>,
    /// Limits.
    pub limits: Limits,
    /// Bearer key required on every endpoint but `/health` and the pages' files, when set (a
    /// browser may send it as the cookie `POST /ui/key` sets instead).
    pub api_key: Option<String>,
    /// Counters.
    pub metrics: Metrics,
    /// Folders (resolved) the web pages may read besides the served models' own
    /// ([`AppState::with_browse`]).
    pub browse: Vec<PathBuf>,
}

impl ModelEntry {
    /// Loads the model (and adapter) `spec` names and starts its scheduler. Errors name the
    /// directory.
    fn load(spec: &ModelSpec, scheduler: SchedulerOptions) -> Result<Arc<Self>, String> {
        let mut engine = Engine::load(&spec.dir, &candle_core::Device::Cpu)
            .map_err(|e| format!("{}: {e}", spec.dir.display()))?;
        if let Some(a) = &spec.adapter {
            let ad = glassbox_model::Adapter::load(a, &candle_core::Device::Cpu)
                .map_err(|e| format!("{}: {e}", a.display()))?;
            engine
                .model
                .apply_adapter(&ad)
                .map_err(|e| format!("{}: {e}", a.display()))?;
        }
        let engine = Arc::new(engine);
        let source = match &spec.adapter {
            Some(a) => a.clone(),
            None if spec.dir.is_file() => spec
                .dir
                .parent()
                .map_or_else(|| spec.dir.clone(), std::path::Path::to_path_buf),
            None => spec.dir.clone(),
        };
        Ok(Arc::new(Self {
            name: spec.name.clone(),
            scheduler: Scheduler::start(engine.clone(), scheduler),
            engine,
            created: now(),
            source,
        }))
    }
}

/// A `--model` argument: `DIR` or `NAME=DIR`.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    /// Name clients use (default: the directory's name).
    pub name: String,
    /// Model directory.
    pub dir: PathBuf,
    /// A LoRA adapter directory applied on top, when given.
    pub adapter: Option<PathBuf>,
}

impl ModelSpec {
    /// Parses `DIR` or `NAME=DIR`.
    pub fn parse(s: &str) -> Self {
        match s.split_once('=') {
            Some((n, d)) if !n.is_empty() && !n.contains('/') => Self {
                name: n.to_string(),
                dir: PathBuf::from(d),
                adapter: None,
            },
            _ => {
                let dir = PathBuf::from(s);
                let name = dir
                    .canonicalize()
                    .ok()
                    .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .unwrap_or_else(|| s.to_string());
                Self {
                    name,
                    dir,
                    adapter: None,
                }
            }
        }
    }
}

impl AppState {
    /// Loads every model and starts its scheduler. Errors name the directory.
    pub fn load(
        specs: &[ModelSpec],
        scheduler: SchedulerOptions,
        limits: Limits,
        api_key: Option<String>,
    ) -> Result<Self, String> {
        let mut models: Vec<Arc<ModelEntry>> = Vec::new();
        for s in specs {
            if models.iter().any(|m| m.name == s.name) {
                return Err(format!(
                    "two models are named `{}`; name them with --model NAME=DIR",
                    s.name
                ));
            }
            models.push(ModelEntry::load(s, scheduler)?);
        }
        if models.is_empty() {
            return Err("no model to serve: give --model DIR".into());
        }
        Ok(Self {
            models,
            loaded: Mutex::new(Vec::new()),
            scheduler_options: scheduler,
            runs: None,
            limits,
            api_key,
            metrics: Metrics::default(),
            browse: Vec::new(),
        })
    }

    /// Lists the runs and bundles in `dir` on the runs pages (and lets the pages read it).
    pub fn with_runs(mut self, dir: Option<&std::path::Path>) -> Result<Self, String> {
        if let Some(d) = dir {
            let r = d
                .canonicalize()
                .map_err(|e| format!("--runs {}: {e}", d.display()))?;
            if !r.is_dir() {
                return Err(format!("--runs {}: not a folder", d.display()));
            }
            self.browse.push(r.clone());
            self.runs = Some(r);
        }
        Ok(self)
    }

    /// The served models, then the loaded checkpoints.
    pub fn all_models(&self) -> Vec<Arc<ModelEntry>> {
        let mut all = self.models.clone();
        all.extend(self.loaded_models());
        all
    }

    fn loaded_models(&self) -> Vec<Arc<ModelEntry>> {
        self.loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Loads the model directory `dir` (a checkpoint) as the model `name`, unless a model of
    /// that name is there already; unloads the oldest loaded one past [`MAX_LOADED`]. Loading
    /// is slow (it reads the weights): call it off the async runtime.
    pub fn load_checkpoint(
        &self,
        name: &str,
        dir: &std::path::Path,
    ) -> Result<Arc<ModelEntry>, String> {
        if let Some(m) = self.all_models().into_iter().find(|m| m.name == name) {
            return Ok(m);
        }
        let spec = ModelSpec {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            adapter: None,
        };
        let entry = ModelEntry::load(&spec, self.scheduler_options)?;
        let mut loaded = self
            .loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(m) = loaded.iter().find(|m| m.name == name) {
            return Ok(m.clone());
        }
        loaded.push(entry.clone());
        while loaded.len() > MAX_LOADED {
            let old = loaded.remove(0);
            old.scheduler.stop_accepting();
        }
        Ok(entry)
    }

    /// Lets the web pages read the releases inside `dirs` (each must be a readable folder).
    pub fn with_browse(mut self, dirs: &[PathBuf]) -> Result<Self, String> {
        for d in dirs {
            let r = d
                .canonicalize()
                .map_err(|e| format!("--browse {}: {e}", d.display()))?;
            if !r.is_dir() {
                return Err(format!("--browse {}: not a folder", d.display()));
            }
            self.browse.push(r);
        }
        Ok(self)
    }

    /// Whether the web pages may read `path`: inside a served model's folder or a browse folder
    /// (after resolving links).
    pub fn may_read(&self, path: &std::path::Path) -> bool {
        let Ok(p) = path.canonicalize() else {
            return false;
        };
        self.models
            .iter()
            .filter_map(|m| m.source.canonicalize().ok())
            .chain(self.browse.iter().cloned())
            .any(|root| p.starts_with(root))
    }

    /// The model a request names; with one model served, `model` may be omitted.
    pub fn model(&self, name: Option<&str>) -> Result<Arc<ModelEntry>, ApiError> {
        match name {
            None if self.models.len() == 1 && self.loaded_models().is_empty() => {
                Ok(self.models[0].clone())
            }
            None => Err(ApiError::invalid(
                Some("model".to_string()),
                format!(
                    "`model` is required when several models are served: {}",
                    self.names().join(", ")
                ),
            )),
            Some(n) => self
                .all_models()
                .into_iter()
                .find(|m| m.name == n)
                .ok_or_else(|| ApiError::unknown_model(n, &self.names())),
        }
    }

    /// The model names.
    pub fn names(&self) -> Vec<String> {
        self.all_models().iter().map(|m| m.name.clone()).collect()
    }

    /// Stops every scheduler from taking new work (shutdown).
    pub fn stop_accepting(&self) {
        for m in self.all_models() {
            m.scheduler.stop_accepting();
        }
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
