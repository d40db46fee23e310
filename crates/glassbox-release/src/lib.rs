//! Release bundles that prove themselves: `glassbox release`, `glassbox verify`, `glassbox trace`.
//!
//! - [`bundle::release`]: a finished training run and its dataset → a bundle holding the final
//!   model (Hugging Face layout), the model card (`card`) and paper, the datasheet, the
//!   resolved recipe, the dataset with its exact data order, the checkpoints, logs, evaluation
//!   data and results, the code and its revision ([`revision`]), licence texts ([`licenses`])
//!   and `MANIFEST.json` ([`manifest`]) with the SHA-256 of every file.
//! - [`verify::verify`]: checks the hashes and the bundle's consistency, re-derives the dataset
//!   from the corpus, replays a checkpoint interval and compares the weights bit for bit; a
//!   passed replay is recorded in `verification.json`, which `glassbox audit` shows as
//!   *replay-verified*.
//! - [`trace`]: document → spans, samples, steps, first checkpoint; step or checkpoint → the
//!   documents trained on, per source and language.
//!
//! ```no_run
//! use glassbox_release::{bundle, verify};
//! let s = bundle::release("runs/tiny".as_ref(), "bundle".as_ref(), &Default::default(), &mut |_| {})?;
//! let report = verify::verify(&s.bundle, &Default::default(), &mut |_| {})?;
//! assert!(report.passed);
//! # Ok::<(), glassbox_release::ReleaseError>(())
//! ```

pub mod bundle;
mod card;
mod card_evals;
pub mod error;
mod gguf;
pub mod licenses;
pub mod manifest;
pub mod revision;
pub mod trace;
pub mod verify;

pub use error::{ReleaseError, Result};
