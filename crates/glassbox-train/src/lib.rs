//! The training runtime: a recipe in, and out come every intermediate checkpoint, the logs, and
//! a run anyone can resume or replay to the same bits.
//!
//! - [`recipe::Recipe`]: the typed recipe (data, model, AdamW, schedule, batches, evaluation,
//!   checkpoints), refused before training when a key is unknown or a value impossible.
//! - [`optim`]: AdamW with serialisable moments and the learning-rate schedule, computed as
//!   PyTorch computes them.
//! - [`learner`]: one optimisation step (forward, loss, backward, accumulation, clipping,
//!   update), shared with `glassbox bench train`.
//! - [`trainer`]: the loop — batches from the exact data order of `glassbox-data`, candle
//!   autograd, clipping, evaluation, logs, loss plot, Pythia-style checkpoints — resume, and
//!   [`trainer::replay`] of any checkpoint interval.
//! - [`data`]: what a run trains on — pre-training windows or instruction-tuning rows (loss on
//!   the assistant's tokens, conversations kept apart).
//! - [`eval`]: the held-out loss the logs and the model card report.
//! - [`bench`](mod@bench): the training-throughput benchmark of `glassbox bench train`.
//! - [`provenance`]: the model a run starts from, hashed, and the terms its card declares.
//! - [`checkpoint`]: atomic, self-verifying checkpoints and `checkpoints/index.json`.
//! - [`export`]: a run handed to PyTorch FSDP, OLMo-core's Trainer or Megatron-Core (`torchrun`)
//!   with the same data order and settings ([`olmo_core`], [`megatron`]: their config files,
//!   parameter names and layouts);
//!   [`import`] brings the engine's checkpoints and logs back as a run directory.
//!
//! ```no_run
//! use glassbox_train::trainer::{Options, train};
//! let summary = train("recipe.toml".as_ref(), "runs/tiny".as_ref(), Options::default(), &mut |_| {})?;
//! println!("final weights {}", summary.final_weights_sha256);
//! # Ok::<(), glassbox_train::TrainError>(())
//! ```

pub mod bench;
pub mod checkpoint;
pub mod data;
pub mod error;
pub mod eval;
pub mod export;
pub mod import;
pub mod learner;
pub mod megatron;
pub mod olmo_core;
pub mod optim;
pub mod plot;
pub mod provenance;
pub mod recipe;
pub mod trainer;

pub use error::{Result, TrainError};
