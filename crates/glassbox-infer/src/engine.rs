//! A loaded model directory ready to generate and score: model, tokenizer, chat template and
//! generation defaults.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use glassbox_model::{KvCache, LoadReport, Logits, ModelError, Transformer};
use serde::Serialize;

use crate::chat::ChatTemplate;
use crate::generation_config::GenerationConfig;
use crate::sampling::{Sampler, SamplingParams, argmax, log_softmax};
use crate::stream::TextStream;
use crate::tokenizer::TextTokenizer;
use crate::{InferError, Result};

/// One prompt to continue.
#[derive(Debug, Clone)]
pub struct Request {
    /// Prompt token ids (not empty).
    pub prompt: Vec<u32>,
    /// Sampling settings.
    pub sampling: SamplingParams,
    /// Most tokens to generate.
    pub max_new_tokens: usize,
    /// Strings that end the text (excluded from it).
    pub stop: Vec<String>,
    /// Token ids that end generation (the model's EOS ids unless the caller overrides them).
    pub eos_token_ids: Vec<u32>,
}

/// Why generation of a sequence ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason", content = "detail")]
pub enum FinishReason {
    /// An end-of-sequence token was generated (it is the last of `tokens`).
    Eos,
    /// A stop string appeared (the text ends before it).
    Stop(String),
    /// `max_new_tokens` or the model's context length was reached.
    Length,
}

/// A finished continuation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Completion {
    /// Generated token ids (an ending EOS included, as transformers returns it).
    pub tokens: Vec<u32>,
    /// Generated text, special tokens skipped, cut before a stop string.
    pub text: String,
    /// Why it ended.
    pub finish: FinishReason,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
}

/// The log-probability of one token given the ones before it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenScore {
    /// Token id.
    pub id: u32,
    /// Vocabulary piece (`Ġthe`).
    pub token: String,
    /// Decoded text of the token alone.
    pub text: String,
    /// `log p(token | prefix)`; `null` for the first token, which has no prefix.
    pub logprob: Option<f64>,
    /// Whether the token is the model's most likely choice at its position.
    pub greedy: Option<bool>,
    /// The most likely tokens at this position (`top` of them), as `(id, logprob)`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub top: Vec<(u32, f64)>,
}

/// Options of a generation call.
#[derive(Debug, Clone, Copy)]
pub struct GenerateOptions {
    /// Decode with the KV cache (default) or recompute the whole sequence every step (slow; the
    /// reference the cache is tested against).
    pub use_cache: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self { use_cache: true }
    }
}

/// A conversation's KV cache and the tokens it holds (see [`Engine::generate_in`]).
#[derive(Debug)]
pub struct Session {
    cache: KvCache,
    tokens: Vec<u32>,
}

impl Session {
    /// Tokens whose keys and values are cached.
    pub fn cached_tokens(&self) -> &[u32] {
        &self.tokens
    }
}

/// A model directory, loaded.
#[derive(Debug)]
pub struct Engine {
    /// The network.
    pub model: Transformer,
    /// Its tokenizer.
    pub tokenizer: TextTokenizer,
    /// Generation defaults and EOS ids.
    pub generation: GenerationConfig,
    /// The chat template, when the model has one.
    pub chat_template: Option<ChatTemplate>,
    /// What loading noticed (unused tensors, storage dtype).
    pub load_report: LoadReport,
    dir: PathBuf,
}

impl Engine {
    /// Loads the model, tokenizer, chat template and generation config from `dir` — or from a
    /// GGUF file (Llama family; weights dequantized to f32, the tokenizer rebuilt from its
    /// metadata).
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        if dir.is_file() && dir.extension().is_some_and(|e| e == "gguf") {
            return Self::load_gguf(dir, device);
        }
        let (model, load_report) = Transformer::load(dir, device)?;
        let tokenizer = TextTokenizer::load(dir)?;
        let generation = GenerationConfig::load(dir, model.config())?;
        Self::assemble(model, tokenizer, generation, load_report, dir)
    }

    /// An engine of loaded parts (the chat template read from the tokenizer's configuration).
    fn assemble(
        model: Transformer,
        tokenizer: TextTokenizer,
        generation: GenerationConfig,
        load_report: LoadReport,
        dir: &Path,
    ) -> Result<Self> {
        let chat_template = ChatTemplate::from_tokenizer(&tokenizer)?;
        Ok(Self {
            model,
            tokenizer,
            generation,
            chat_template,
            load_report,
            dir: dir.to_path_buf(),
        })
    }

    /// [`Engine::load`] of a GGUF file.
    fn load_gguf(path: &Path, device: &Device) -> Result<Self> {
        let f = glassbox_model::gguf::GgufFile::open(path)?;
        // Block-quantized matrices stay in their blocks; products read them there.
        let model = glassbox_model::gguf::llama::load_quantized(&f, device)?;
        let (tk, tk_config) = glassbox_model::gguf::tokenizer::rebuild(&f).map_err(|message| {
            InferError::Tokenizer {
                path: path.to_path_buf(),
                message,
            }
        })?;
        // The tokenizer and generation files, written where the loaders read them, then gone.
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let tmp = std::env::temp_dir().join(format!(
            "glassbox-gguf-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let load = || -> Result<(TextTokenizer, GenerationConfig)> {
            std::fs::create_dir_all(&tmp)
                .map_err(|e| glassbox_core::CoreError::io("creating", &tmp, e))?;
            glassbox_core::fsio::write_json_atomic(&tmp.join("tokenizer.json"), &tk)?;
            glassbox_core::fsio::write_json_atomic(&tmp.join("tokenizer_config.json"), &tk_config)?;
            Ok((
                TextTokenizer::load(&tmp)?,
                GenerationConfig::load(&tmp, model.config())?,
            ))
        };
        let loaded = load();
        let _ = std::fs::remove_dir_all(&tmp);
        let (tokenizer, generation) = loaded?;
        let report = LoadReport {
            stored_dtype: gguf_storage(&f),
            ..LoadReport::default()
        };
        Self::assemble(model, tokenizer, generation, report, path)
    }

    /// The directory the engine was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The chat template, or an error that says the model has none.
    pub fn chat_template(&self) -> Result<&ChatTemplate> {
        self.chat_template
            .as_ref()
            .ok_or_else(|| InferError::NoChatTemplate {
                dir: self.dir.clone(),
            })
    }

    /// A request for `prompt` with the model's defaults (sampling, EOS ids, max tokens or 256).
    pub fn request(&self, prompt: Vec<u32>) -> Request {
        Request {
            prompt,
            sampling: self.generation.sampling.clone(),
            max_new_tokens: self.generation.max_new_tokens.unwrap_or(256),
            stop: Vec::new(),
            eos_token_ids: self.generation.eos_token_ids.clone(),
        }
    }

    /// Generates continuations of every request together (one forward pass per step for the
    /// whole batch). `on_text(i, delta)` receives request `i`'s text as it is produced.
    pub fn generate(
        &self,
        requests: &[Request],
        options: GenerateOptions,
        on_text: &mut dyn FnMut(usize, &str),
    ) -> Result<Vec<Completion>> {
        for (i, r) in requests.iter().enumerate() {
            self.validate(i, r)?;
        }
        let longest = requests.iter().map(|r| r.prompt.len()).max().unwrap_or(0);
        let pad: Vec<usize> = requests.iter().map(|r| longest - r.prompt.len()).collect();
        let mut cache = options
            .use_cache
            .then(|| KvCache::new(self.model.config(), pad.clone(), self.model.device()));
        Ok(self.decode(requests, &pad, cache.as_mut(), 0, on_text)?.0)
    }

    /// A conversation whose KV cache is kept between turns.
    pub fn session(&self) -> Session {
        Session {
            cache: KvCache::new(self.model.config(), vec![0], self.model.device()),
            tokens: Vec::new(),
        }
    }

    /// Generates one continuation inside `session`, reusing the cached keys and values of the
    /// longest prefix `request.prompt` shares with the session's earlier tokens (a chat
    /// re-renders the whole conversation each turn; only the new part is computed).
    pub fn generate_in(
        &self,
        session: &mut Session,
        request: &Request,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Completion> {
        self.validate(0, request)?;
        let shared = session
            .tokens
            .iter()
            .zip(&request.prompt)
            .take_while(|(a, b)| a == b)
            .count();
        // At least one prompt token must be fed to get logits for the next one.
        let reuse = shared.min(request.prompt.len() - 1);
        session.cache.truncate(reuse);
        session.tokens.truncate(reuse);
        let (mut out, seqs) = self.decode(
            std::slice::from_ref(request),
            &[0],
            Some(&mut session.cache),
            reuse,
            &mut |_, t| on_text(t),
        )?;
        let fed = session.cache.len();
        session.tokens = seqs.into_iter().next().unwrap_or_default();
        session.tokens.truncate(fed);
        Ok(out.remove(0))
    }

    fn validate(&self, i: usize, r: &Request) -> Result<()> {
        let cfg = self.model.config();
        let ctx = cfg.max_position_embeddings;
        r.sampling.validate()?;
        if r.prompt.is_empty() {
            return Err(InferError::Input(format!(
                "request {i}: the prompt is empty"
            )));
        }
        if r.prompt.len() >= ctx {
            return Err(InferError::Input(format!(
                "request {i}: the prompt has {} tokens, but the model's context is {ctx} \
                 (max_position_embeddings), leaving no room to generate",
                r.prompt.len()
            )));
        }
        if let Some(&bad) = r.prompt.iter().find(|&&t| t as usize >= cfg.vocab_size) {
            return Err(InferError::Input(format!(
                "request {i}: token id {bad} is outside the model's vocabulary ({})",
                cfg.vocab_size
            )));
        }
        Ok(())
    }

    /// The decoding loop shared by batches and sessions. Rows are left-padded by `pad`; with a
    /// cache, its first `start` slots already hold the prompts' first `start` tokens. Returns the
    /// completions and every row's full token sequence (prompt, then generated).
    fn decode(
        &self,
        requests: &[Request],
        pad: &[usize],
        mut cache: Option<&mut KvCache>,
        start: usize,
        on_text: &mut dyn FnMut(usize, &str),
    ) -> Result<(Vec<Completion>, Vec<Vec<u32>>)> {
        let b = requests.len();
        if b == 0 {
            return Ok((Vec::new(), Vec::new()));
        }
        let ctx = self.model.config().max_position_embeddings;
        let device = self.model.device().clone();
        // Left-pad to a rectangle; padded slots are masked, their ids (0) never seen.
        let mut seqs: Vec<Vec<u32>> = requests
            .iter()
            .zip(pad)
            .map(|(r, &p)| [vec![0; p], r.prompt.clone()].concat())
            .collect();
        let mut samplers: Vec<Sampler> = requests
            .iter()
            .map(|r| Sampler::new(r.sampling.clone()))
            .collect();
        let mut streams: Vec<TextStream> =
            requests.iter().map(|r| TextStream::new(&r.stop)).collect();
        let mut generated: Vec<Vec<u32>> = vec![Vec::new(); b];
        let mut finish: Vec<Option<FinishReason>> = requests
            .iter()
            .map(|r| (r.max_new_tokens == 0).then_some(FinishReason::Length))
            .collect();
        let use_cache = cache.is_some();
        let mut input: Vec<Vec<u32>> = if use_cache {
            seqs.iter().map(|s| s[start..].to_vec()).collect()
        } else {
            seqs.clone()
        };
        while finish.iter().any(Option::is_none) {
            let t = input[0].len();
            let flat: Vec<u32> = input.iter().flatten().copied().collect();
            let tokens = Tensor::from_vec(flat, (b, t), &device).map_err(ModelError::from)?;
            let logits = self
                .model
                .forward(&tokens, pad, cache.as_deref_mut(), Logits::Last)?;
            let rows: Vec<Vec<f32>> = logits
                .squeeze(1)
                .and_then(|l| l.to_vec2())
                .map_err(ModelError::from)?;
            for i in 0..b {
                if finish[i].is_some() {
                    continue;
                }
                let r = &requests[i];
                let next = samplers[i].sample(&rows[i], &seqs[i][pad[i]..]);
                generated[i].push(next);
                if r.eos_token_ids.contains(&next) {
                    finish[i] = Some(FinishReason::Eos);
                } else {
                    let step = streams[i].push(&self.tokenizer, next)?;
                    if !step.delta.is_empty() {
                        on_text(i, &step.delta);
                    }
                    if let Some(s) = step.stopped {
                        finish[i] = Some(FinishReason::Stop(s));
                    } else if generated[i].len() >= r.max_new_tokens
                        || seqs[i].len() + 1 - pad[i] >= ctx
                    {
                        finish[i] = Some(FinishReason::Length);
                    }
                }
                if matches!(finish[i], Some(FinishReason::Eos | FinishReason::Length)) {
                    let rest = streams[i].finish();
                    if !rest.is_empty() {
                        on_text(i, &rest);
                    }
                }
            }
            // Every row advances in lock step (finished rows repeat their last token, unused), so
            // padding stays where it is and one rectangle serves the whole batch.
            for i in 0..b {
                let last = generated[i].last().copied().unwrap_or(0);
                seqs[i].push(last);
            }
            input = if use_cache {
                seqs.iter().map(|s| vec![s[s.len() - 1]]).collect()
            } else {
                seqs.clone()
            };
        }
        let completions = (0..b)
            .map(|i| Completion {
                tokens: std::mem::take(&mut generated[i]),
                text: streams[i].text().to_string(),
                finish: finish[i].clone().unwrap_or(FinishReason::Length),
                prompt_tokens: requests[i].prompt.len(),
            })
            .collect();
        // The padding of each row is not part of its sequence.
        for (s, &p) in seqs.iter_mut().zip(pad) {
            s.drain(..p);
        }
        Ok((completions, seqs))
    }

    /// Per-token log-probabilities of `ids` (each given all tokens before it), with the `top`
    /// most likely alternatives at each position.
    pub fn score(&self, ids: &[u32], top: usize) -> Result<Vec<TokenScore>> {
        if ids.is_empty() {
            return Err(InferError::Input(
                "nothing to score: the text has no tokens".into(),
            ));
        }
        let device = self.model.device().clone();
        let tokens =
            Tensor::from_vec(ids.to_vec(), (1, ids.len()), &device).map_err(ModelError::from)?;
        let logits = self.model.forward(&tokens, &[], None, Logits::All)?;
        let rows: Vec<Vec<f32>> = logits
            .squeeze(0)
            .and_then(|l| l.to_vec2())
            .map_err(ModelError::from)?;
        let mut out = Vec::with_capacity(ids.len());
        for (i, &id) in ids.iter().enumerate() {
            let token = self.tokenizer.token_piece(id).unwrap_or_default();
            let text = self.tokenizer.decode(&[id], false)?;
            let (logprob, greedy, top_list) = if i == 0 {
                (None, None, Vec::new())
            } else {
                let row = &rows[i - 1];
                let lp = log_softmax(row);
                let mut top_list = Vec::new();
                if top > 0 {
                    let mut order: Vec<usize> = (0..lp.len()).collect();
                    order.sort_by(|&a, &b| lp[b].total_cmp(&lp[a]).then(a.cmp(&b)));
                    top_list = order
                        .into_iter()
                        .take(top)
                        .map(|j| (j as u32, lp[j]))
                        .collect();
                }
                (Some(lp[id as usize]), Some(argmax(row) == id), top_list)
            };
            out.push(TokenScore {
                id,
                token,
                text,
                logprob,
                greedy,
                top: top_list,
            });
        }
        Ok(out)
    }
}

/// The GGUF tensor type holding most of a file's bytes (`Q8_0`, `Q4_K`, …).
fn gguf_storage(f: &glassbox_model::gguf::GgufFile) -> String {
    let mut bytes: std::collections::BTreeMap<&'static str, u64> = Default::default();
    for t in &f.tensors {
        *bytes.entry(t.ty.name()).or_default() += t.ty.bytes_for(t.elements()).unwrap_or(0);
    }
    bytes
        .into_iter()
        .max_by_key(|&(_, b)| b)
        .map_or_else(String::new, |(n, _)| n.to_uppercase())
}
