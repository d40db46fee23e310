//! Held-out evaluation: mean next-token cross-entropy over the first windows of the held-out
//! split (for a chat dataset, over the assistant tokens of its first held-out rows), the number
//! `logs/eval.jsonl` records and the model card's `model-index` reports.

use glassbox_data::dataset::Dataset;

use crate::Result;
use crate::data::TrainData;
use crate::learner::{Learner, TrainRow};

/// Mean loss of `learner`'s model over the first `windows` held-out windows (or chat rows) and
/// the tokens predicted; `None` when there is nothing held out.
pub fn heldout_loss_of(
    learner: &Learner,
    data: &mut TrainData,
    seq_len: usize,
    windows: usize,
) -> Result<Option<(f64, u64)>> {
    match data {
        TrainData::Tokens(d) => heldout_loss(learner, d, seq_len, windows),
        TrainData::Chat(d) => {
            let (mut sum, mut count) = (0f64, 0f64);
            for r in d.heldout().iter().take(windows) {
                let weights = r.weights();
                let n: f64 = weights.iter().map(|&w| w as f64).sum();
                if n == 0.0 {
                    continue;
                }
                let row = TrainRow {
                    tokens: r.tokens.clone(),
                    weights: Some(weights),
                    segments: Some(r.segments.clone()),
                };
                // loss_rows divides by n: undo it to sum over tokens.
                sum += learner
                    .loss_rows(std::slice::from_ref(&row), n)?
                    .to_scalar::<f32>()? as f64
                    * n;
                count += n;
            }
            Ok((count > 0.0).then(|| (sum / count, count as u64)))
        }
    }
}

/// Mean loss of `learner`'s model over the first `windows` held-out windows of `seq_len + 1`
/// tokens (window `i` starts at token `i · seq_len`), and the tokens predicted; `None` when the
/// held-out split is shorter than one window.
pub fn heldout_loss(
    learner: &Learner,
    dataset: &mut Dataset,
    seq_len: usize,
    windows: usize,
) -> Result<Option<(f64, u64)>> {
    let l = seq_len as u64;
    let available = dataset.tokens_in("heldout").saturating_sub(1) / l.max(1);
    let n = (windows as u64).min(available);
    if n == 0 {
        return Ok(None);
    }
    let mut total = 0f64;
    for i in 0..n {
        let row = dataset.read("heldout", i * l, seq_len + 1)?;
        total += learner
            .loss(std::slice::from_ref(&row))?
            .to_scalar::<f32>()? as f64;
    }
    Ok(Some((total / n as f64, n * l)))
}
