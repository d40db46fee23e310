//! Llama-family decoder-only transformers on candle: configuration, forward pass, key/value cache,
//! and Hugging Face-layout loading and saving.
//!
//! - [`config::ModelConfig`] reads `config.json` of `LlamaForCausalLM`, `MistralForCausalLM` and
//!   `Qwen2ForCausalLM` (transformers 4.x and 5.x layouts) and refuses what it cannot honour.
//! - [`weights::WeightFiles`] opens `model.safetensors` or a sharded index through a strict
//!   memory-mapped reader ([`safetensors_io`]) whose errors name the file and tensor.
//! - [`Transformer`] holds f32 weights and runs the forward pass, with or without a [`KvCache`],
//!   over left-padded batches; [`Transformer::save`] writes the HF layout back.
//!
//! ```no_run
//! use candle_core::{Device, Tensor};
//! use glassbox_model::{Logits, Transformer};
//! # fn main() -> Result<(), glassbox_model::ModelError> {
//! let (model, _report) = Transformer::load("SmolLM2-135M".as_ref(), &Device::Cpu)?;
//! let tokens = Tensor::new(&[[1u32, 2, 3]], &Device::Cpu)?;
//! let logits = model.forward(&tokens, &[], None, Logits::Last)?; // (1, 1, vocab)
//! # Ok(()) }
//! ```

pub mod config;
pub mod cpu_kernels;
pub mod error;
mod families;
pub mod kv_cache;
pub mod rope;
pub mod safetensors_io;
pub mod seq_cache;
pub mod topk;
pub mod transformer;
pub mod weights;

pub use config::{
    Activation, Architecture, LayerAttention, MlpLayout, ModelConfig, MoeConfig, NormKind, QkNorm,
    QkvLayout, Residual, RopeScaling,
};
pub use error::{ModelError, Result};
pub use families::tensor_shapes;
pub use kv_cache::KvCache;
pub use seq_cache::SeqCache;
pub use transformer::{Kernels, LoadReport, Logits, Transformer};
pub use weights::SaveDtype;
