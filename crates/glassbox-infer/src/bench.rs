//! Generation throughput on a randomly initialised model, and the machine's memory bandwidth,
//! for `glassbox bench generate` and docs/PERFORMANCE.md.
//!
//! Decoding one token reads every weight once, so on a CPU it is bounded by memory bandwidth:
//! `bound = bandwidth / weight_bytes`. The bench measures both in the same process, so the ratio
//! (achieved / bound) is comparable across noisy machines.

use std::time::Instant;

use candle_core::{Device, Tensor};
use glassbox_model::{KvCache, Logits, ModelConfig, ModelError, Transformer};
use serde::Serialize;
use serde_json::json;

use crate::Result;
use crate::sampling::argmax;

/// SmolLM2-135M's `config.json` (hidden 576, 30 layers, 9 heads, 3 KV heads, intermediate 1536,
/// vocabulary 49152, tied embeddings, RoPE θ 100000).
pub fn smollm2_135m() -> Result<ModelConfig> {
    let v = json!({
        "architectures": ["LlamaForCausalLM"], "vocab_size": 49152, "hidden_size": 576,
        "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
        "num_key_value_heads": 3, "max_position_embeddings": 8192, "rms_norm_eps": 1e-5,
        "rope_theta": 100000.0, "tie_word_embeddings": true, "bos_token_id": 0, "eos_token_id": 0
    });
    Ok(ModelConfig::from_value(
        &v,
        "smollm2-135m (built in)".as_ref(),
    )?)
}

/// A tiny Llama (hidden 64, 2 layers, 4 heads / 2 KV heads, vocabulary 512, tied): not a speed
/// figure, a smoke run of the benchmark and of its llama.cpp comparison.
pub fn tiny() -> Result<ModelConfig> {
    let v = json!({
        "architectures": ["LlamaForCausalLM"], "vocab_size": 512, "hidden_size": 64,
        "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "max_position_embeddings": 1024, "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0, "tie_word_embeddings": true, "bos_token_id": 0, "eos_token_id": 0
    });
    Ok(ModelConfig::from_value(&v, "tiny (built in)".as_ref())?)
}

/// Pythia's `config.json` for the 70M and 160M sizes (GPT-NeoX: vocabulary 50304, untied
/// `embed_out`, rotary on a quarter of each head, parallel residual, context 2048).
pub fn pythia(size: &str) -> Result<ModelConfig> {
    let (hidden, layers, heads) = match size {
        "70m" => (512, 6, 8),
        "160m" => (768, 12, 12),
        other => {
            return Err(crate::InferError::Input(format!(
                "no built-in Pythia-{other} shape (70m, 160m)"
            )));
        }
    };
    let v = json!({
        "architectures": ["GPTNeoXForCausalLM"], "vocab_size": 50304, "hidden_size": hidden,
        "intermediate_size": 4 * hidden, "num_hidden_layers": layers,
        "num_attention_heads": heads, "max_position_embeddings": 2048, "rotary_pct": 0.25,
        "rotary_emb_base": 10000, "use_parallel_residual": true, "layer_norm_eps": 1e-5,
        "hidden_act": "gelu", "tie_word_embeddings": false, "bos_token_id": 0, "eos_token_id": 0
    });
    Ok(ModelConfig::from_value(
        &v,
        format!("pythia-{size} (built in)").as_ref(),
    )?)
}

/// OLMoE-1B-7B's shape scaled to fit a small machine: its 64 experts, top-8 routing, QK-norm
/// and vocabulary, with half the width (hidden 1024, experts 512 wide) and half the layers (8):
/// 0.94 B parameters, 0.24 B active per token.
pub fn olmoe_scaled() -> Result<ModelConfig> {
    let v = json!({
        "architectures": ["OlmoeForCausalLM"], "vocab_size": 50304, "hidden_size": 1024,
        "intermediate_size": 512, "num_hidden_layers": 8, "num_attention_heads": 16,
        "num_key_value_heads": 16, "num_experts": 64, "num_experts_per_tok": 8,
        "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "tie_word_embeddings": false, "bos_token_id": 0, "eos_token_id": 0
    });
    Ok(ModelConfig::from_value(
        &v,
        "olmoe-scaled (built in)".as_ref(),
    )?)
}

/// Llama 3.2 1B's `config.json` (hidden 2048, 16 layers, 32 heads, 8 KV heads, intermediate
/// 8192, vocabulary 128256, tied embeddings, RoPE θ 500000; 1,235,814,400 parameters), with
/// plain RoPE (its long-context scaling does not change the work per token).
pub fn llama_1b() -> Result<ModelConfig> {
    let v = json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "num_hidden_layers": 16,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 64,
        "hidden_act": "silu",
        "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-5,
        "rope_theta": 500000.0,
        "tie_word_embeddings": true,
        "vocab_size": 128256,
    });
    Ok(ModelConfig::from_value(&v, "llama-1b (built in)".as_ref())?)
}

/// The built-in benchmark shapes by name: `smollm2-135m`, `llama-1b`, `pythia-70m`,
/// `pythia-160m`, `olmoe-scaled`, and `tiny` for smoke runs.
pub fn bench_shape(name: &str) -> Result<ModelConfig> {
    match name {
        "smollm2-135m" => smollm2_135m(),
        "llama-1b" => llama_1b(),
        "pythia-70m" => pythia("70m"),
        "pythia-160m" => pythia("160m"),
        "olmoe-scaled" => olmoe_scaled(),
        "tiny" => tiny(),
        other => Err(crate::InferError::Input(format!(
            "unknown shape `{other}` (smollm2-135m, llama-1b, pythia-70m, pythia-160m, olmoe-scaled, tiny)"
        ))),
    }
}

/// A model of shape `cfg` with random weights as a GGUF file whose matrices are `quant`
/// (`q8_0`, `q4_k_m`, …; see `glassbox convert --to gguf`), with no tokenizer
/// (`tokenizer.ggml.model = "none"`), so that glassbox and llama.cpp can run the same bytes.
pub fn random_gguf(cfg: ModelConfig, quant: &str) -> Result<Vec<u8>> {
    use glassbox_model::gguf::{GgufQuant, Value, llama};
    let ty = GgufQuant::from_name(quant).ok_or_else(|| {
        crate::InferError::Input(format!(
            "unknown GGUF type `{quant}` (f32, f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0, q5_k, q4_k, q6_k, q5_k_m, q5_k_s, q4_k_m, q4_k_s)"
        ))
    })?;
    let model = Transformer::random(cfg, 0, &Device::Cpu)?;
    let prov = llama::Provenance {
        name: "glassbox bench (random weights)".into(),
        license: None,
        source_sha256: None,
        glassbox_version: String::new(),
    };
    let mut w = llama::to_gguf(&model, ty, &prov)?;
    w.set("tokenizer.ggml.model", Value::String("none".into()));
    Ok(w.to_bytes())
}

/// A GGUF file's model with its block-quantized matrices kept quantized.
pub fn load_gguf(path: &std::path::Path) -> Result<Transformer> {
    let f = glassbox_model::gguf::GgufFile::open(path)?;
    Ok(glassbox_model::gguf::llama::load_quantized(
        &f,
        &Device::Cpu,
    )?)
}

/// Settings of one benchmark run.
#[derive(Debug, Clone, Serialize)]
pub struct BenchOptions {
    /// Prompt tokens processed in one forward pass.
    pub prompt_len: usize,
    /// Tokens decoded one at a time after the prompt.
    pub new_tokens: usize,
    /// Timed repetitions (the median is reported).
    pub repeats: usize,
    /// Bytes read by the bandwidth probe (larger than the last-level cache).
    pub bandwidth_bytes: usize,
    /// Where the random weights of [`bench_generate`] run (`cuda` with the `cuda` feature).
    #[serde(serialize_with = "as_text")]
    pub device: glassbox_model::device::DeviceSpec,
}

fn as_text<S: serde::Serializer>(
    d: &glassbox_model::device::DeviceSpec,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.collect_str(d)
}

/// Results (medians over repeats).
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Model parameters.
    pub parameters: usize,
    /// Parameters one token uses (all of them for a dense model; the router and `top_k` experts
    /// of each sparse layer for a mixture of experts).
    pub active_parameters: usize,
    /// Bytes of weights read per decoded token (f32: the active parameters; quantized: the
    /// bytes held, every matrix being read once).
    pub weight_bytes: usize,
    /// Threads used for tensor math.
    pub threads: usize,
    /// Prompt tokens per second.
    pub prefill_tokens_per_s: f64,
    /// Decoded tokens per second (batch 1, greedy; `forward` with a KV cache, as `generate`).
    pub decode_tokens_per_s: f64,
    /// The same tokens decoded by the server's batch-invariant step (one sequence).
    pub step_decode_tokens_per_s: f64,
    /// Measured memory read bandwidth, bytes per second.
    pub memory_bandwidth_bytes_per_s: f64,
    /// `memory_bandwidth / weight_bytes`: the decode speed no implementation can beat here.
    pub decode_bound_tokens_per_s: f64,
    /// Settings used.
    pub options: BenchOptions,
}

/// Runs the generation benchmark on `cfg` with random weights.
pub fn bench_generate(
    cfg: ModelConfig,
    options: &BenchOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<BenchReport> {
    progress("initialising random weights");
    let model = Transformer::random(cfg, 0, &options.device.open()?)?;
    bench_model(&model, options, progress)
}

/// Runs the generation benchmark on `model` (f32, half-precision or quantized weights).
pub fn bench_model(
    model: &Transformer,
    options: &BenchOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<BenchReport> {
    let device = model.device().clone();
    let cfg = model.config().clone();
    let prompt: Vec<u32> = (0..options.prompt_len)
        .map(|i| (i * 7919 % cfg.vocab_size) as u32)
        .collect();
    // The timed runs execute on one of rayon's workers (`join` moves them into the pool), as
    // `glassbox generate` does, so each parallel product is shared by the workers without the
    // calling thread sleeping and waking around it.
    let runs = || -> Result<(Vec<f64>, Vec<f64>, Vec<f64>)> {
        let mut prefill = Vec::new();
        let mut decode = Vec::new();
        let mut step_decode = Vec::new();
        for rep in 0..=options.repeats {
            // Repetition 0 warms caches and allocators and is not counted.
            let mut cache = KvCache::new(&cfg, vec![0], &device);
            let tokens = Tensor::new(prompt.as_slice(), &device)
                .and_then(|t| t.unsqueeze(0))
                .map_err(ModelError::from)?;
            let t0 = Instant::now();
            let logits = model.forward(&tokens, &[], Some(&mut cache), Logits::Last)?;
            let mut next = last_argmax(&logits)?;
            let t1 = Instant::now();
            let first = next;
            let mut seq = glassbox_model::SeqCache::from_kv_cache(&cache)?;
            for _ in 0..options.new_tokens {
                let input = Tensor::new(&[[next]], &device).map_err(ModelError::from)?;
                let logits = model.forward(&input, &[], Some(&mut cache), Logits::Last)?;
                next = last_argmax(&logits)?;
            }
            let t2 = Instant::now();
            // The same tokens through the server's decoding step (one sequence, its own cache).
            next = first;
            for _ in 0..options.new_tokens {
                let logits = model.decode_step(&[next], &mut [&mut seq])?;
                next = logits.first().map_or(0, |l| argmax(l));
            }
            let t3 = Instant::now();
            if rep > 0 {
                prefill.push(options.prompt_len as f64 / (t1 - t0).as_secs_f64());
                decode.push(options.new_tokens as f64 / (t2 - t1).as_secs_f64());
                step_decode.push(options.new_tokens as f64 / (t3 - t2).as_secs_f64());
            }
        }
        Ok((prefill, decode, step_decode))
    };
    progress(&format!("{} timed runs after a warm-up", options.repeats));
    let (r, ()) = rayon::join(runs, || ());
    let (mut prefill, mut decode, mut step_decode) = r?;
    progress("measuring memory bandwidth");
    let bandwidth = memory_bandwidth(options.bandwidth_bytes, 5);
    // Every matrix is read once per token (a tied embedding as the output head); a sparse
    // model's inactive experts are not.
    let weight_bytes = if model.is_quantized() {
        model.weight_bytes()
    } else {
        cfg.active_parameters() * 4
    };
    Ok(BenchReport {
        parameters: cfg.num_parameters(),
        active_parameters: cfg.active_parameters(),
        weight_bytes,
        threads: rayon::current_num_threads(),
        prefill_tokens_per_s: median(&mut prefill),
        decode_tokens_per_s: median(&mut decode),
        step_decode_tokens_per_s: median(&mut step_decode),
        memory_bandwidth_bytes_per_s: bandwidth,
        decode_bound_tokens_per_s: bandwidth / weight_bytes as f64,
        options: options.clone(),
    })
}

fn last_argmax(logits: &Tensor) -> Result<u32> {
    let row: Vec<f32> = logits
        .flatten_all()
        .and_then(|l| l.to_vec1())
        .map_err(ModelError::from)?;
    Ok(argmax(&row))
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Read bandwidth in bytes/s: the best of `repeats` parallel sums over `bytes` of f32 (larger
/// than any cache), on rayon's pool, i.e. the threads the model uses.
pub fn memory_bandwidth(bytes: usize, repeats: usize) -> f64 {
    use rayon::prelude::*;
    let n = bytes / 4;
    let data: Vec<f32> = (0..n).map(|i| (i % 1024) as f32).collect();
    let chunk = n.div_ceil(rayon::current_num_threads().max(1) * 4);
    let mut best = 0.0f64;
    for _ in 0..repeats {
        let t = Instant::now();
        let s: f32 = data
            .par_chunks(chunk)
            .map(|c| {
                // 16 independent accumulators let the compiler vectorise the reduction.
                let mut acc = [0f32; 16];
                let mut it = c.chunks_exact(16);
                for block in &mut it {
                    for (a, x) in acc.iter_mut().zip(block) {
                        *a += x;
                    }
                }
                acc.iter().sum::<f32>() + it.remainder().iter().sum::<f32>()
            })
            .sum();
        let secs = t.elapsed().as_secs_f64();
        std::hint::black_box(s);
        best = best.max(bytes as f64 / secs);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_config_is_smollm2_135m() {
        assert_eq!(smollm2_135m().unwrap().num_parameters(), 134_515_008);
    }

    #[test]
    fn builtin_shapes_have_their_published_sizes() {
        // transformers' counts for EleutherAI/pythia-70m and pythia-160m (untied embed_out).
        assert_eq!(pythia("70m").unwrap().num_parameters(), 70_426_624);
        assert_eq!(pythia("160m").unwrap().num_parameters(), 162_322_944);
        let o = olmoe_scaled().unwrap();
        // transformers' count for this OlmoeConfig; 56 idle experts in each of 8 layers.
        assert_eq!(o.num_parameters(), 942_441_472);
        assert_eq!(o.active_parameters(), 942_441_472 - 8 * 56 * 3 * 1024 * 512);
        assert!(bench_shape("nope").is_err());
    }

    #[test]
    fn bench_runs_on_a_tiny_model() {
        let v = json!({"architectures": ["LlamaForCausalLM"], "vocab_size": 64, "hidden_size": 16,
            "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2});
        let cfg = ModelConfig::from_value(&v, "t".as_ref()).unwrap();
        let opts = BenchOptions {
            prompt_len: 8,
            new_tokens: 4,
            repeats: 1,
            bandwidth_bytes: 1 << 16,
            device: Default::default(),
        };
        let r = bench_generate(cfg, &opts, &mut |_| {}).unwrap();
        assert!(r.prefill_tokens_per_s > 0.0 && r.decode_tokens_per_s > 0.0);
        assert!(r.memory_bandwidth_bytes_per_s > 0.0 && r.decode_bound_tokens_per_s > 0.0);
    }
}
