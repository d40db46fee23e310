//! LoRA adapters in PEFT's file format.
//!
//! LoRA (Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", 2021,
//! <https://arxiv.org/abs/2106.09685>) adds to a frozen linear layer `y = W x` a trainable
//! low-rank update, `y = W x + s · B (A x)` with `A` `(r, in)`, `B` `(out, r)` and scale
//! `s = alpha / r`, or `alpha / √r` with rsLoRA (Kalajdzievski, "A Rank Stabilization Scaling
//! Factor for Fine-Tuning with LoRA", 2023, <https://arxiv.org/abs/2312.03732>). The reference
//! implementation we match is PEFT's `tuners/lora` (its `Linear` layer and `save_pretrained`).
//!
//! Files, as PEFT writes and reads them: `adapter_config.json` (`peft_type` `LORA`, `r`,
//! `lora_alpha`, `lora_dropout`, `target_modules`, `use_rslora`, `base_model_name_or_path`, …)
//! and `adapter_model.safetensors` holding `base_model.model.<module>.lora_A.weight` and
//! `.lora_B.weight` for every adapted module (`<module>` is the module's path in transformers,
//! `model.layers.0.self_attn.q_proj`). Fused modules (GPT-NeoX's `query_key_value`, Phi-3's
//! `qkv_proj`) are adapted as one matrix, as PEFT does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde_json::{Value, json};

use crate::safetensors_io::SafetensorsFile;
use crate::weights::write_safetensors_file;
use crate::{ModelError, Result};

/// The prefix PEFT puts before a module's path in `adapter_model.safetensors`.
pub const PEFT_PREFIX: &str = "base_model.model.";

/// An adapter's settings (`adapter_config.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct LoraConfig {
    /// Rank of the update.
    pub r: usize,
    /// `lora_alpha`.
    pub alpha: f64,
    /// Dropout on the adapter's input during training.
    pub dropout: f64,
    /// rsLoRA scaling (`alpha / √r` instead of `alpha / r`).
    pub use_rslora: bool,
    /// Module names to adapt: a module matches a name when its path equals it or ends with
    /// `.name` (PEFT's rule for a list).
    pub target_modules: Vec<String>,
    /// The base model, as recorded (`base_model_name_or_path`).
    pub base_model: Option<String>,
}

impl LoraConfig {
    /// The update's scale `s`.
    pub fn scale(&self) -> f64 {
        if self.use_rslora {
            self.alpha / (self.r as f64).sqrt()
        } else {
            self.alpha / self.r as f64
        }
    }

    /// Whether the module at `path` is adapted.
    pub fn targets(&self, path: &str) -> bool {
        self.target_modules
            .iter()
            .any(|t| path == t || path.ends_with(&format!(".{t}")))
    }

    /// Reads `adapter_config.json`, refusing what glassbox would get wrong.
    pub fn from_file(path: &Path) -> Result<Self> {
        let v: Value = glassbox_core::fsio::read_json(path)?;
        let err = |field: &str, message: String| ModelError::Config {
            path: path.to_path_buf(),
            field: field.to_string(),
            message,
        };
        let obj = v
            .as_object()
            .ok_or_else(|| err("(top level)", "expected a JSON object".into()))?;
        let get = |k: &str| obj.get(k).filter(|x| !x.is_null());
        match get("peft_type").and_then(Value::as_str) {
            Some("LORA") => {}
            other => {
                return Err(err(
                    "peft_type",
                    format!("{other:?}: only LORA adapters are supported"),
                ));
            }
        }
        let r = get("r")
            .and_then(Value::as_u64)
            .ok_or_else(|| err("r", "missing or not a positive integer".into()))?;
        if r == 0 || r > 1 << 16 {
            return Err(err(
                "r",
                format!("{r}: the rank must be between 1 and 65536"),
            ));
        }
        let alpha = match get("lora_alpha") {
            None => 8.0,
            Some(a) => a
                .as_f64()
                .filter(|a| a.is_finite())
                .ok_or_else(|| err("lora_alpha", format!("expected a number, found {a}")))?,
        };
        let dropout = match get("lora_dropout") {
            None => 0.0,
            Some(d) => d
                .as_f64()
                .filter(|d| (0.0..1.0).contains(d))
                .ok_or_else(|| {
                    err(
                        "lora_dropout",
                        format!("expected a number in [0, 1), found {d}"),
                    )
                })?,
        };
        let target_modules = match get("target_modules") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|t| {
                    t.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| err("target_modules", format!("expected names, found {t}")))
                })
                .collect::<Result<Vec<_>>>()?,
            Some(Value::String(s)) => {
                return Err(err(
                    "target_modules",
                    format!("the regular expression `{s}` is not supported; list the module names"),
                ));
            }
            _ => return Err(err("target_modules", "missing".into())),
        };
        let flag = |k: &str| get(k).and_then(Value::as_bool).unwrap_or(false);
        for k in ["use_dora", "fan_in_fan_out"] {
            if flag(k) {
                return Err(err(
                    k,
                    "is true; glassbox implements plain LoRA only".into(),
                ));
            }
        }
        if let Some(b) = get("bias").and_then(Value::as_str)
            && b != "none"
        {
            return Err(err("bias", format!("`{b}`: only \"none\" is supported")));
        }
        for k in ["rank_pattern", "alpha_pattern"] {
            if get(k)
                .and_then(Value::as_object)
                .is_some_and(|m| !m.is_empty())
            {
                return Err(err(
                    k,
                    "per-module ranks or alphas are not supported".into(),
                ));
            }
        }
        for k in ["modules_to_save", "layers_to_transform"] {
            if get(k).is_some() {
                return Err(err(
                    k,
                    "is set; glassbox adapts whole target modules only".into(),
                ));
            }
        }
        Ok(Self {
            r: r as usize,
            alpha,
            dropout,
            use_rslora: flag("use_rslora"),
            target_modules,
            base_model: get("base_model_name_or_path")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// `adapter_config.json` as PEFT writes it.
    pub fn to_json(&self) -> Value {
        json!({
            "alpha_pattern": {},
            "auto_mapping": null,
            "base_model_name_or_path": self.base_model,
            "bias": "none",
            "fan_in_fan_out": false,
            "inference_mode": true,
            "init_lora_weights": true,
            "layers_pattern": null,
            "layers_to_transform": null,
            "lora_alpha": self.alpha,
            "lora_dropout": self.dropout,
            "modules_to_save": null,
            "peft_type": "LORA",
            "r": self.r,
            "rank_pattern": {},
            "revision": null,
            "target_modules": self.target_modules,
            "task_type": "CAUSAL_LM",
            "use_dora": false,
            "use_rslora": self.use_rslora,
        })
    }
}

/// An adapter: its settings and `(A, B)` per module path.
#[derive(Debug, Clone)]
pub struct Adapter {
    /// The directory it was read from, if any (for error messages).
    pub source: Option<PathBuf>,
    /// Settings.
    pub config: LoraConfig,
    /// `(A (r, in), B (out, r))` by module path (`model.layers.0.self_attn.q_proj`).
    pub modules: BTreeMap<String, (Tensor, Tensor)>,
}

impl Adapter {
    /// Reads a PEFT adapter directory.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let cfg_path = dir.join("adapter_config.json");
        if !cfg_path.is_file() {
            return Err(ModelError::MissingFile {
                path: cfg_path,
                hint: "a LoRA adapter directory holds adapter_config.json and adapter_model.safetensors (as PEFT saves them)".into(),
            });
        }
        let config = LoraConfig::from_file(&cfg_path)?;
        let st_path = dir.join("adapter_model.safetensors");
        if !st_path.is_file() {
            return Err(ModelError::MissingFile {
                path: st_path,
                hint: "the adapter's weights (adapter_model.bin is not read: unpickling runs code)"
                    .into(),
            });
        }
        let file = SafetensorsFile::open(&st_path)?;
        let bad = |message: String| ModelError::Adapter {
            path: st_path.clone(),
            message,
        };
        let mut a = BTreeMap::new();
        let mut b = BTreeMap::new();
        for name in file.tensors().keys() {
            let Some(rest) = name.strip_prefix(PEFT_PREFIX) else {
                return Err(bad(format!(
                    "tensor `{name}` does not start with `{PEFT_PREFIX}`"
                )));
            };
            let (module, which) = if let Some(m) = rest.strip_suffix(".lora_A.weight") {
                (m, &mut a)
            } else if let Some(m) = rest.strip_suffix(".lora_B.weight") {
                (m, &mut b)
            } else {
                return Err(bad(format!(
                    "tensor `{name}` is neither a lora_A nor a lora_B weight (only plain LoRA is supported)"
                )));
            };
            which.insert(module.to_string(), file.load_f32(name, device)?);
        }
        let mut modules = BTreeMap::new();
        for (m, ta) in a {
            let tb = b.remove(&m).ok_or_else(|| {
                bad(format!(
                    "`{PEFT_PREFIX}{m}.lora_A.weight` has no lora_B beside it"
                ))
            })?;
            let (r1, _) = ta
                .dims2()
                .map_err(|_| bad(format!("`{m}` lora_A is not a matrix")))?;
            let (_, r2) = tb
                .dims2()
                .map_err(|_| bad(format!("`{m}` lora_B is not a matrix")))?;
            if r1 != config.r || r2 != config.r {
                return Err(bad(format!(
                    "`{m}`: lora_A has rank {r1} and lora_B rank {r2}, but adapter_config.json says r = {}",
                    config.r
                )));
            }
            modules.insert(m, (ta, tb));
        }
        if let Some(m) = b.keys().next() {
            return Err(bad(format!(
                "`{PEFT_PREFIX}{m}.lora_B.weight` has no lora_A beside it"
            )));
        }
        if modules.is_empty() {
            return Err(bad("no LoRA tensors".into()));
        }
        Ok(Self {
            source: Some(dir.to_path_buf()),
            config,
            modules,
        })
    }

    /// A new adapter for `model` as PEFT initialises one: for every linear layer `config`
    /// targets, `A` uniform in `±1/√in` (PyTorch's Kaiming-uniform with `a = √5`) drawn from the
    /// seeded glassbox RNG, and `B = 0`, so the adapted model starts equal to the base.
    pub fn init(model: &crate::Transformer, config: LoraConfig, seed: u64) -> Result<Self> {
        if config.r == 0 {
            return Err(ModelError::Input("LoRA rank r must be at least 1".into()));
        }
        let mut rng = glassbox_core::rng::Rng::seed_from_u64(seed);
        let shapes: std::collections::HashMap<String, Vec<usize>> =
            crate::tensor_shapes(model.config()).into_iter().collect();
        let mut modules = BTreeMap::new();
        for name in model.linear_modules() {
            if !config.targets(&name) {
                continue;
            }
            let Some(shape) = shapes.get(&format!("{name}.weight")) else {
                continue;
            };
            let (out, inp) = (shape[0], shape[1]);
            let bound = 1.0 / (inp as f64).sqrt();
            let a: Vec<f32> = (0..config.r * inp)
                .map(|_| ((rng.next_f64() * 2.0 - 1.0) * bound) as f32)
                .collect();
            let device = model.device();
            modules.insert(
                name,
                (
                    Tensor::from_vec(a, (config.r, inp), device)?,
                    Tensor::zeros((out, config.r), DType::F32, device)?,
                ),
            );
        }
        if modules.is_empty() {
            let mut suffixes: Vec<String> = model
                .linear_modules()
                .iter()
                .filter_map(|m| m.rsplit('.').next().map(str::to_string))
                .collect();
            suffixes.sort();
            suffixes.dedup();
            return Err(ModelError::Input(format!(
                "target_modules {:?} match no linear layer of this {} model; its modules are named {}",
                config.target_modules,
                model.config().architecture.class_name(),
                suffixes.join(", ")
            )));
        }
        Ok(Self {
            source: None,
            config,
            modules,
        })
    }

    /// Writes the adapter as PEFT does (`adapter_config.json`, `adapter_model.safetensors`, f32).
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)
            .map_err(|e| glassbox_core::CoreError::io("creating", dir, e))?;
        let mut tensors = Vec::with_capacity(2 * self.modules.len());
        for (m, (a, b)) in &self.modules {
            tensors.push((
                format!("{PEFT_PREFIX}{m}.lora_A.weight"),
                a.to_dtype(DType::F32)?,
            ));
            tensors.push((
                format!("{PEFT_PREFIX}{m}.lora_B.weight"),
                b.to_dtype(DType::F32)?,
            ));
        }
        write_safetensors_file(&dir.join("adapter_model.safetensors"), &tensors)?;
        glassbox_core::fsio::write_json_atomic(
            &dir.join("adapter_config.json"),
            &self.config.to_json(),
        )?;
        Ok(())
    }

    /// The adapter's tensors with PEFT's names, in name order.
    pub fn named_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(2 * self.modules.len());
        for (m, (a, b)) in &self.modules {
            out.push((format!("{PEFT_PREFIX}{m}.lora_A.weight"), a.clone()));
            out.push((format!("{PEFT_PREFIX}{m}.lora_B.weight"), b.clone()));
        }
        out
    }

    /// Number of trainable parameters.
    pub fn num_parameters(&self) -> usize {
        self.modules
            .values()
            .map(|(a, b)| a.elem_count() + b.elem_count())
            .sum()
    }
}
