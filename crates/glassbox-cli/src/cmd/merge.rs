//! `glassbox merge RECIPE.toml`: merge models that share a base and shape, recording the recipe,
//! the inputs' hashes and the seed beside the result.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use candle_core::{Device, Tensor};
use glassbox_model::merge::{Method, Tensors, merge};
use glassbox_model::{SaveDtype, Transformer};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The merge recipe (TOML; see docs/adaptation.md).
    recipe: PathBuf,
    /// Output directory (a Hugging Face model directory, with merge.json and merge.toml).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Recipe {
    method: String,
    base: Option<PathBuf>,
    models: Vec<Input>,
    lambda: Option<f64>,
    density: Option<f64>,
    drop_rate: Option<f64>,
    rescale: Option<bool>,
    sign_election: Option<bool>,
    seed: Option<u64>,
    t: Option<f64>,
    normalize: Option<bool>,
    dtype: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    path: PathBuf,
    #[serde(default = "one")]
    weight: f64,
}

fn one() -> f64 {
    1.0
}

fn method(r: &Recipe) -> Result<Method> {
    let need = |k: &str, v: Option<f64>| {
        v.with_context(|| format!("`{k}` is required by method \"{}\"", r.method))
    };
    let lambda = r.lambda.unwrap_or(1.0);
    let m = match r.method.as_str() {
        "linear" => Method::Linear {
            normalize: r.normalize.unwrap_or(true),
        },
        "task_arithmetic" => Method::TaskArithmetic { lambda },
        "ties" => {
            let density = need("density", r.density)?;
            if !(density > 0.0 && density <= 1.0) {
                bail!("`density` = {density}: must be in (0, 1]");
            }
            Method::Ties { density, lambda }
        }
        "dare" => {
            let drop_rate = need("drop_rate", r.drop_rate)?;
            if !(0.0..1.0).contains(&drop_rate) {
                bail!("`drop_rate` = {drop_rate}: must be in [0, 1)");
            }
            Method::Dare {
                drop_rate,
                rescale: r.rescale.unwrap_or(true),
                sign_election: r.sign_election.unwrap_or(false),
                seed: r.seed.unwrap_or(0),
                lambda,
            }
        }
        "slerp" => {
            let t = need("t", r.t)?;
            if !(0.0..=1.0).contains(&t) {
                bail!("`t` = {t}: must be in [0, 1]");
            }
            Method::Slerp { t }
        }
        other => bail!("`method` = \"{other}\": use linear, task_arithmetic, ties, dare or slerp"),
    };
    if !lambda.is_finite() || r.models.iter().any(|m| !m.weight.is_finite()) {
        bail!("`lambda` and every model's `weight` must be finite numbers");
    }
    Ok(m)
}

/// A model's tensors as f32 values, and its configuration.
fn load(dir: &Path) -> Result<(Tensors, glassbox_model::ModelConfig)> {
    let (m, _) = Transformer::load_with(dir, &Device::Cpu, false)
        .with_context(|| format!("loading the model in {}", dir.display()))?;
    let mut t = Tensors::new();
    for (name, tensor) in m.named_tensors() {
        let shape = tensor.dims().to_vec();
        t.insert(name, (shape, tensor.flatten_all()?.to_vec1::<f32>()?));
    }
    Ok((t, m.config().clone()))
}

/// SHA-256 of a model directory's config.json and weight files.
fn hashes(dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "config.json" || name.ends_with(".safetensors") {
            out.insert(name, glassbox_core::hash::sha256_file(&e.path())?);
        }
    }
    Ok(out)
}

pub(crate) fn run(a: Args) -> Result<()> {
    let text = std::fs::read_to_string(&a.recipe)
        .with_context(|| format!("reading {}", a.recipe.display()))?;
    let r: Recipe = toml::from_str(&text)
        .with_context(|| format!("{}: not a merge recipe", a.recipe.display()))?;
    let method = method(&r).with_context(|| format!("{}", a.recipe.display()))?;
    let here = a.recipe.parent().unwrap_or(Path::new("."));
    if r.models.is_empty() {
        bail!("{}: `models` is empty", a.recipe.display());
    }
    if method.needs_base() && r.base.is_none() {
        bail!(
            "{}: method \"{}\" needs `base`",
            a.recipe.display(),
            r.method
        );
    }
    let dtype_name = r.dtype.clone().unwrap_or_else(|| "f32".into());
    let dtype = SaveDtype::parse(&dtype_name).with_context(|| {
        format!(
            "{}: `dtype` = {dtype_name}: use f32, bf16 or f16",
            a.recipe.display()
        )
    })?;
    let base_dir = r.base.as_ref().map(|b| here.join(b));
    let base = base_dir.as_deref().map(load).transpose()?;
    let mut inputs = Vec::new();
    for m in &r.models {
        let dir = here.join(&m.path);
        let (t, cfg) = load(&dir)?;
        if let Some((_, bcfg)) = &base
            && bcfg.architecture != cfg.architecture
        {
            bail!(
                "{} is a {}, the base a {}: merged models must share their base's architecture",
                dir.display(),
                cfg.architecture.class_name(),
                bcfg.architecture.class_name()
            );
        }
        inputs.push((dir, m.weight, t, cfg));
    }
    let refs: Vec<(f64, &Tensors)> = inputs.iter().map(|(_, w, t, _)| (*w, t)).collect();
    let merged = merge(&method, base.as_ref().map(|(t, _)| t), &refs).with_context(|| {
        let names: Vec<String> = base_dir
            .iter()
            .chain(inputs.iter().map(|(d, ..)| d))
            .map(|d| d.display().to_string())
            .collect();
        format!("merging {}", names.join(", "))
    })?;
    let cfg = base
        .as_ref()
        .map_or_else(|| inputs[0].3.clone(), |(_, c)| c.clone());
    let mut tensors = std::collections::HashMap::new();
    for (name, (shape, values)) in merged {
        tensors.insert(name, Tensor::from_vec(values, shape, &Device::Cpu)?);
    }
    let model = Transformer::from_tensors(cfg, tensors, &Device::Cpu)?;
    model.save(&a.out, dtype, u64::MAX)?;
    let side_from = base_dir.clone().unwrap_or_else(|| inputs[0].0.clone());
    for f in super::convert::SIDE_FILES {
        let from = side_from.join(f);
        if from.exists() {
            std::fs::copy(&from, a.out.join(f))
                .with_context(|| format!("copying {}", from.display()))?;
        }
    }
    // The merged model comes under every input's terms (the base's too).
    let sources: Vec<&std::path::Path> = base_dir
        .iter()
        .chain(inputs.iter().map(|(d, ..)| d))
        .map(|d| d.as_path())
        .collect();
    super::convert::write_lineage(
        &sources,
        &a.out,
        &format!(
            "A {} merge made by `glassbox merge` (recipe `merge.toml`, inputs and hashes in `merge.json`)",
            r.method
        ),
    )?;
    let mut described = Vec::new();
    if let Some(b) = &base_dir {
        described
            .push(json!({"role": "base", "path": b.display().to_string(), "sha256": hashes(b)?}));
    }
    for (dir, w, ..) in &inputs {
        described.push(json!({"role": "model", "path": dir.display().to_string(), "weight": w, "sha256": hashes(dir)?}));
    }
    glassbox_core::fsio::atomic_write(&a.out.join("merge.toml"), text.as_bytes())?;
    glassbox_core::fsio::write_json_atomic(
        &a.out.join("merge.json"),
        &json!({
            "schema_version": 1,
            "glassbox_version": env!("CARGO_PKG_VERSION"),
            "method": format!("{method:?}"),
            "recipe_sha256": glassbox_core::hash::sha256_hex(text.as_bytes()),
            "inputs": described,
            "output_sha256": glassbox_core::hash::sha256_file(&a.out.join("model.safetensors"))?,
        }),
    )?;
    eprintln!(
        "wrote {} ({} of {} models, {})",
        a.out.display(),
        r.method,
        inputs.len(),
        dtype.torch_name()
    );
    Ok(())
}
