//! Decoder-only transformers on candle — Llama, Mistral, Qwen2/3, SmolLM3, OLMo/OLMo 2, GPT-NeoX
//! (Pythia), Phi-3, Gemma 2/3 and the mixtures of experts Mixtral, OLMoE and Qwen3-MoE:
//! configuration, forward pass, key/value cache, Hugging Face-layout loading and saving, and
//! checkpoint series.
//!
//! - [`config::ModelConfig`] reads `config.json` of every supported [`Architecture`]
//!   (transformers 4.x and 5.x layouts) and refuses what it cannot honour; each family's fields,
//!   defaults and tensor names live in one file of `families/`, citing its paper and the
//!   transformers file it is checked against.
//! - [`weights::WeightFiles`] opens `model.safetensors` or a sharded index through a strict
//!   memory-mapped reader ([`safetensors_io`]) whose errors name the file and tensor.
//! - [`Transformer`] holds the weights (f32, or bf16/f16 matrices as stored) and runs the forward
//!   pass, with or without a [`KvCache`], over left-padded batches, and the batch-invariant
//!   [`Transformer::decode_step`]; [`Transformer::save`] writes the HF layout back.
//! - [`CheckpointSeries`] lists a model's checkpoints (Hub revisions, glassbox runs) by step.
//! - [`gguf`] reads and writes GGUF files and their quantized blocks.
//! - [`device::DeviceSpec`]: `--device cpu | cuda[:N]` (CUDA with the `cuda` feature).
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

pub mod checkpoints;
pub mod config;
pub mod cpu_kernels;
pub mod device;
pub mod error;
mod families;
pub mod fused;
pub mod gguf;
pub mod kv_cache;
pub mod lora;
pub mod merge;
pub mod quantized;
pub mod rope;
pub mod safetensors_io;
pub mod seq_cache;
pub mod team;
pub mod topk;
pub mod transformer;
pub mod weights;

pub use checkpoints::{Checkpoint, CheckpointSeries};
pub use config::{
    Activation, Architecture, LayerAttention, MlpLayout, ModelConfig, MoeConfig, NormKind, QkNorm,
    QkvLayout, Residual, RopeScaling,
};
pub use error::{ModelError, Result};
pub use families::tensor_shapes;
pub use kv_cache::KvCache;
pub use lora::{Adapter, LoraConfig};
pub use seq_cache::SeqCache;
pub use transformer::{Kernels, LoadReport, Logits, Transformer, VocabInit};
pub use weights::SaveDtype;
