//! `glassbox resize-vocab`: grow a model's vocabulary to an extended tokenizer's.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use glassbox_model::{SaveDtype, Transformer};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The model directory (its tokenizer.json is the one being extended).
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// The extended tokenizer (`glassbox data tokenizer extend`): every token of the model's
    /// tokenizer must keep its id.
    #[arg(long, value_name = "FILE")]
    tokenizer: PathBuf,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// How new rows start: `mean` (the old rows' mean) or `mean-cov` (drawn from a normal with
    /// the old rows' mean and covariance, seeded by --seed).
    #[arg(long, default_value = "mean", value_parser = ["mean", "mean-cov"])]
    init: String,
    /// Seed of the `mean-cov` draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub(crate) fn run(a: Args) -> Result<()> {
    let old_path = a.model.join("tokenizer.json");
    let old = glassbox_data::tokenizer::load(&old_path)?;
    let new = glassbox_data::tokenizer::load(&a.tokenizer)?;
    // Existing ids never change: a token that moved would silently read another row.
    let mut moved: Vec<(String, u32, Option<u32>)> = old
        .get_vocab(true)
        .into_iter()
        .filter_map(|(tok, id)| {
            let now = new.token_to_id(&tok);
            (now != Some(id)).then_some((tok, id, now))
        })
        .collect();
    if !moved.is_empty() {
        moved.sort_by_key(|m| m.1);
        let (tok, id, now) = &moved[0];
        bail!(
            "{}: {} token(s) of {} lost their id, first `{tok}` (id {id}, now {}); an extension must only add tokens after the existing ones",
            a.tokenizer.display(),
            moved.len(),
            old_path.display(),
            now.map_or("absent".to_string(), |n| n.to_string())
        );
    }
    let (model, _) = Transformer::load_with(&a.model, &candle_core::Device::Cpu, false)
        .with_context(|| format!("loading the model in {}", a.model.display()))?;
    let vocab = new.get_vocab_size(true).max(model.config().vocab_size);
    let init = if a.init == "mean-cov" {
        glassbox_model::VocabInit::MeanCov { seed: a.seed }
    } else {
        glassbox_model::VocabInit::Mean
    };
    let grown = model.resize_vocab_with(vocab, init)?;
    grown.save(&a.out, SaveDtype::F32, u64::MAX)?;
    std::fs::copy(&a.tokenizer, a.out.join("tokenizer.json"))
        .with_context(|| format!("copying {}", a.tokenizer.display()))?;
    for f in super::convert::SIDE_FILES {
        let from = a.model.join(f);
        if *f != "tokenizer.json" && from.exists() {
            std::fs::copy(&from, a.out.join(f))
                .with_context(|| format!("copying {}", from.display()))?;
        }
    }
    super::convert::write_lineage(
        &[&a.model],
        &a.out,
        &format!(
            "The model in `{}` grown to the tokenizer `{}` ({} → {} tokens; existing rows unchanged, new rows {}; `glassbox resize-vocab`)",
            a.model.display(),
            a.tokenizer.display(),
            model.config().vocab_size,
            vocab,
            if a.init == "mean-cov" {
                "from the old rows' mean and covariance"
            } else {
                "at the old rows' mean"
            }
        ),
    )?;
    eprintln!(
        "wrote {} (vocabulary {} → {}, new rows: {})",
        a.out.display(),
        model.config().vocab_size,
        vocab,
        if a.init == "mean-cov" {
            format!(
                "drawn from the old rows' mean and covariance, seed {}",
                a.seed
            )
        } else {
            "the old rows' mean".to_string()
        }
    );
    Ok(())
}
