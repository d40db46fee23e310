//! The reproducible data pipeline: curation, tokenizers, token shards, the exact data order and
//! provenance, in one crate.
//!
//! - [`curate`]: sources ([`config`], [`source`]) → normalised, language-tagged, filtered
//!   ([`filters`]: Gopher, C4, FineWeb) and deduplicated ([`dedup`]: exact, MinHash LSH) documents
//!   in curated shards, `removed.jsonl` and a [`datasheet`].
//! - [`tokenizer`]: deterministic byte-level BPE training, vocabulary extension, fertility.
//! - [`tokenize`]: curated documents → token [`shards`], a document index, `manifest.json`,
//!   with a held-out split by document.
//! - [`dataset`]: an opened dataset, checked against its manifest; the exact data order, the
//!   batch of any step, and the trace of any document.
//! - [`chat`]: instruction-tuning datasets — conversations with their assistant tokens marked,
//!   in rows (packed or not) with the same seeded data order.
//! - [`interop`]: OLMo and Megatron exports; nanoGPT and llm.c imports.
//!
//! ```no_run
//! use glassbox_data::{config::CurateConfig, curate, dataset::Dataset};
//! # fn main() -> glassbox_data::Result<()> {
//! let cfg = CurateConfig::from_file("sources.toml".as_ref())?;
//! curate::curate(&cfg, "curated".as_ref(), &mut |_| {})?;
//! // … train a tokenizer, tokenize into "dataset", then:
//! let mut ds = Dataset::open("dataset".as_ref())?;
//! let batch = ds.batch(100, 8, 256, 1234)?; // step 100, batch 8, seq_len 256, seed 1234
//! println!("{:?}", batch[0].documents);
//! # Ok(()) }
//! ```

pub mod bench;
pub mod chat;
pub mod config;
pub mod curate;
pub mod dataset;
pub mod datasheet;
pub mod dedup;
pub mod error;
pub mod fastbpe;
pub mod filters;
pub mod interop;
pub mod shards;
pub mod source;
pub mod text;
pub mod tokenize;
pub mod tokenizer;

pub use error::{DataError, Result};
