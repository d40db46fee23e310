//! Running a task on a model as lm-evaluation-harness runs it with its `hf` backend.
//!
//! **Multiple choice.** The context is the description, then each few-shot example as
//! `question + target_delimiter + answer + fewshot_delimiter`, then the question; each choice is
//! scored as the continuation `target_delimiter + choice`. Few-shot examples are drawn with
//! Python's `random.Random(seed)` (one generator per task, used document after document;
//! lm-eval's default seed is 1234), `n + 1` drawn and the document itself removed when the
//! few-shot split is the test split. `acc` is whether the highest log-likelihood is the gold
//! choice (the first maximum wins), `acc_norm` the same with each log-likelihood divided by its
//! choice's length in characters (lm-eval's `len(str)`).
//!
//! **Encoding** (`_encode_pair`): trailing whitespace of the context moves to the continuation;
//! the context+continuation and the context are tokenised with the tokenizer's default special
//! tokens (a BOS for Llama-style tokenizers), and the continuation is what the whole has beyond
//! the context's length. An empty context becomes the prefix token (BOS, else EOS).
//!
//! **Rolling perplexity.** The target text, tokenised the same way, scored in rolling windows
//! ([`crate::rolling`]); `word_perplexity`, `byte_perplexity`, `bits_per_byte`.

use std::collections::BTreeMap;

use glassbox_infer::Engine;
use serde::Serialize;
use serde_json::{Value, json};

use crate::fields::{Fields, Resolved};
use crate::loglik::{Request, Scorer};
use crate::pyrandom::PyRandom;
use crate::rolling::{Perplexity, count_words, loglikelihood_rolling};
use crate::task::TaskConfig;
use crate::{EvalError, Result};

/// How to run a task.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Few-shot examples (overrides the task's `num_fewshot`).
    pub num_fewshot: Option<usize>,
    /// Seed of the few-shot sampler (lm-eval's default 1234).
    pub fewshot_seed: u32,
    /// Only the first documents.
    pub limit: Option<usize>,
    /// Rows per forward pass.
    pub batch_size: usize,
    /// The window (default: the model's `max_position_embeddings`, as lm-eval resolves it).
    pub max_length: Option<usize>,
    /// Whether requests with one context (a question's choices) share a pass over it.
    pub share_context: bool,
    /// Told (done, total) as the task runs: requests scored, or documents for perplexity.
    pub progress: Option<crate::loglik::Progress>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            num_fewshot: None,
            fewshot_seed: 1234,
            limit: None,
            batch_size: 8,
            max_length: None,
            share_context: true,
            progress: None,
        }
    }
}

/// A task's results.
#[derive(Debug, Clone, Serialize)]
pub struct TaskResult {
    /// Task name.
    pub task: String,
    /// `multiple_choice` or `loglikelihood_rolling`.
    pub output_type: String,
    /// Documents evaluated.
    pub docs: usize,
    /// Few-shot examples per context.
    pub num_fewshot: usize,
    /// Metric → value.
    pub metrics: BTreeMap<String, f64>,
    /// Requests whose context was cut from the left to fit the window.
    pub truncated: usize,
    /// Per document: its requests' log-likelihoods and what was scored.
    pub samples: Vec<Value>,
}

/// Python's `str.isspace` for one character (it also counts U+001C–U+001F).
pub fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Tokenisation as lm-eval's `hf` backend does it.
struct Encoder<'a> {
    engine: &'a Engine,
    prefix: u32,
    prefix_text: Option<String>,
}

impl<'a> Encoder<'a> {
    fn new(engine: &'a Engine) -> Result<Self> {
        let t = &engine.tokenizer;
        let id = |s: &Option<String>| s.as_deref().and_then(|p| t.token_id(p));
        let prefix = id(&t.bos_token).or(id(&t.eos_token)).ok_or_else(|| {
            EvalError::Request(
                "the tokenizer has neither a BOS nor an EOS token to start texts with".into(),
            )
        })?;
        let prefix_text = t
            .token_piece(prefix)
            .map(|_| t.decode(&[prefix], false))
            .transpose()?;
        Ok(Self {
            engine,
            prefix,
            prefix_text,
        })
    }

    /// `tok_encode`: the tokenizer's default special tokens, unless the text already starts
    /// with the prefix token.
    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let special = !self
            .prefix_text
            .as_deref()
            .is_some_and(|p| !p.is_empty() && text.starts_with(p));
        Ok(self.engine.tokenizer.encode(text, special)?)
    }

    /// `_encode_pair` (and the empty-context rule of `loglikelihood`).
    fn pair(&self, context: &str, continuation: &str) -> Result<Request> {
        if context.is_empty() {
            let cont = self.engine.tokenizer.encode(continuation, false)?;
            return Ok(if cont.first() == Some(&self.prefix) {
                Request {
                    context: cont[..1].to_vec(),
                    continuation: cont[1..].to_vec(),
                }
            } else {
                Request {
                    context: vec![self.prefix],
                    continuation: cont,
                }
            });
        }
        let kept = context.trim_end_matches(py_space);
        let moved = &context[kept.len()..];
        let (context, continuation) = (kept, format!("{moved}{continuation}"));
        let whole = self.encode(&format!("{context}{continuation}"))?;
        let ctx = self.encode(context)?;
        let cont = whole.get(ctx.len()..).unwrap_or_default().to_vec();
        Ok(Request {
            context: ctx,
            continuation: cont,
        })
    }
}

/// Runs `task` on `engine`'s model.
pub fn evaluate(task: &TaskConfig, engine: &Engine, opts: &EvalOptions) -> Result<TaskResult> {
    let fields = Fields::new();
    let enc = Encoder::new(engine)?;
    let mut scorer = Scorer::new(&engine.model);
    scorer.batch_size = opts.batch_size.max(1);
    scorer.share_context = opts.share_context;
    if task.output_type != "loglikelihood_rolling" {
        scorer.progress = opts.progress.clone();
    }
    if let Some(m) = opts.max_length {
        scorer.max_length = m.max(1);
    }
    let mut docs = task.docs(task.eval_split()?)?;
    if let Some(n) = opts.limit {
        docs.truncate(n);
    }
    let doc_err = |doc: usize, m: String| doc_error(task, doc, m);
    match task.output_type.as_str() {
        "loglikelihood_rolling" => {
            let spec = task
                .doc_to_target
                .as_ref()
                .ok_or_else(|| task.err("doc_to_target is missing"))?;
            let mut per_doc = Vec::new();
            let mut samples = Vec::new();
            for (i, d) in docs.iter().enumerate() {
                let text = match fields
                    .resolve(spec, d, false, false)
                    .map_err(|m| doc_err(i, format!("doc_to_target: {m}")))?
                {
                    Resolved::Text(t) => t,
                    other => {
                        return Err(doc_err(
                            i,
                            format!("doc_to_target gives {other:?}, not text"),
                        ));
                    }
                };
                let ids = enc.encode(&text)?;
                let ll = loglikelihood_rolling(&scorer, &ids, enc.prefix)?;
                let (words, bytes) = (count_words(&text), text.len());
                per_doc.push((ll, words, bytes));
                samples.push(json!({"doc": i, "loglikelihood": ll, "words": words, "bytes": bytes, "tokens": ids.len()}));
                if let Some(p) = &opts.progress {
                    (p.0)(i + 1, docs.len());
                }
            }
            let p = Perplexity::of(&per_doc);
            let metrics = BTreeMap::from([
                ("word_perplexity".to_string(), p.word_perplexity),
                ("byte_perplexity".to_string(), p.byte_perplexity),
                ("bits_per_byte".to_string(), p.bits_per_byte),
            ]);
            Ok(TaskResult {
                task: task.task.clone(),
                output_type: task.output_type.clone(),
                docs: docs.len(),
                num_fewshot: 0,
                metrics,
                truncated: 0,
                samples,
            })
        }
        "loglikelihood" => loglikelihood(task, &docs, &fields, &enc, &scorer, opts),
        _ => multiple_choice(task, &docs, &fields, &enc, &scorer, opts),
    }
}

fn multiple_choice(
    task: &TaskConfig,
    docs: &[Value],
    fields: &Fields,
    enc: &Encoder<'_>,
    scorer: &Scorer<'_>,
    opts: &EvalOptions,
) -> Result<TaskResult> {
    let doc_err = |doc: usize, m: String| doc_error(task, doc, m);
    let missing = |k: &str| task.err(format!("`{k}` is missing"));
    let text_spec = task
        .doc_to_text
        .as_ref()
        .ok_or_else(|| missing("doc_to_text"))?;
    let target_spec = task
        .doc_to_target
        .as_ref()
        .ok_or_else(|| missing("doc_to_target"))?;
    let choice_spec = task
        .doc_to_choice
        .as_ref()
        .ok_or_else(|| missing("doc_to_choice"))?;
    let n_shots = opts.num_fewshot.or(task.num_fewshot).unwrap_or(0);
    let pool = if n_shots > 0 {
        let split = task
            .fewshot_pool_split()
            .ok_or_else(|| task.err("num_fewshot > 0 but no split to draw examples from"))?;
        task.docs(split)?
    } else {
        Vec::new()
    };
    if n_shots > 0 && pool.len() < n_shots {
        return Err(task.err(format!(
            "{n_shots} few-shot examples asked, the pool has {}",
            pool.len()
        )));
    }
    let exclude_self = task.fewshot_split == task.test_split;
    let first_n = task
        .fewshot_config
        .as_ref()
        .and_then(|f| f.sampler.as_deref())
        == Some("first_n");
    let mut rng = PyRandom::new(opts.fewshot_seed);
    let question = |d: &Value, i: usize| -> Result<String> {
        match fields
            .resolve(text_spec, d, true, false)
            .map_err(|m| doc_err(i, format!("doc_to_text: {m}")))?
        {
            Resolved::Text(t) => Ok(t),
            other => Err(doc_err(
                i,
                format!(
                    "doc_to_text gives {other:?}: one context per choice (multiple-input tasks) is not supported"
                ),
            )),
        }
    };
    let mut requests = Vec::new();
    let mut per_doc = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let choices = fields
            .choices(choice_spec, d)
            .map_err(|m| doc_err(i, format!("doc_to_choice: {m}")))?;
        if choices.is_empty() {
            return Err(doc_err(i, "doc_to_choice gives no choices".into()));
        }
        let gold: Vec<usize> = match fields
            .resolve(target_spec, d, true, true)
            .map_err(|m| doc_err(i, format!("doc_to_target: {m}")))?
        {
            Resolved::Int(g) => vec![g as usize],
            Resolved::Text(s) => vec![choices.iter().position(|c| *c == s).ok_or_else(|| {
                doc_err(
                    i,
                    format!("doc_to_target `{s}` is not one of the choices {choices:?}"),
                )
            })?],
            Resolved::List(l) => l
                .iter()
                .filter_map(Value::as_u64)
                .map(|g| g as usize)
                .collect(),
        };
        if let Some(g) = gold.iter().find(|&&g| g >= choices.len()) {
            return Err(doc_err(
                i,
                format!(
                    "doc_to_target: gold index {g} is out of range for {} choices",
                    choices.len()
                ),
            ));
        }
        // The context: description, shots, question.
        let mut ctx = description(task, fields, d, i)?;
        if n_shots > 0 {
            let shots: Vec<usize> = if first_n {
                (0..pool.len())
                    .filter(|&j| !exclude_self || pool[j] != *d)
                    .take(n_shots)
                    .collect()
            } else if exclude_self {
                rng.sample(pool.len(), n_shots + 1)
                    .into_iter()
                    .filter(|&j| pool[j] != *d)
                    .take(n_shots)
                    .collect()
            } else {
                rng.sample(pool.len(), n_shots)
            };
            for j in shots {
                let s = &pool[j];
                let q = question(s, j)?;
                let answer = match fields
                    .resolve(target_spec, s, true, true)
                    .map_err(|m| doc_err(j, format!("few-shot doc_to_target: {m}")))?
                {
                    Resolved::Int(a) => {
                        let c = fields
                            .choices(choice_spec, s)
                            .map_err(|m| doc_err(j, format!("few-shot doc_to_choice: {m}")))?;
                        c.get(a as usize).cloned().ok_or_else(|| {
                            doc_err(j, format!("few-shot gold index {a} out of range"))
                        })?
                    }
                    Resolved::List(l) => l
                        .first()
                        .map(|v| match v {
                            Value::String(s) => s.clone(),
                            o => o.to_string(),
                        })
                        .unwrap_or_default(),
                    Resolved::Text(t) => t,
                };
                if answer.is_empty() {
                    ctx.push_str(&q);
                } else {
                    ctx.push_str(&format!(
                        "{q}{}{answer}{}",
                        task.target_delimiter, task.fewshot_delimiter
                    ));
                }
            }
        }
        ctx.push_str(&question(d, i)?);
        let first = requests.len();
        for c in &choices {
            requests.push(enc.pair(&ctx, &format!("{}{c}", task.target_delimiter))?);
        }
        per_doc.push((first, choices, gold, ctx));
    }
    let scores = scorer.score(&requests)?;
    let (mut acc, mut acc_norm) = (0f64, 0f64);
    let mut samples = Vec::new();
    for (i, (first, choices, gold, ctx)) in per_doc.iter().enumerate() {
        let lls: Vec<f64> = scores[*first..*first + choices.len()]
            .iter()
            .map(|s| s.loglikelihood)
            .collect();
        let argmax = |v: &[f64]| {
            v.iter()
                .enumerate()
                .fold(0, |b, (k, x)| if *x > v[b] { k } else { b })
        };
        let pred = argmax(&lls);
        let normed: Vec<f64> = lls
            .iter()
            .zip(choices)
            .map(|(l, c)| l / c.chars().count() as f64)
            .collect();
        let pred_norm = argmax(&normed);
        let a = f64::from(u8::from(gold.contains(&pred)));
        let an = f64::from(u8::from(gold.contains(&pred_norm)));
        acc += a;
        acc_norm += an;
        samples.push(json!({"doc": i, "context": ctx, "choices": choices, "gold": gold, "loglikelihoods": lls, "acc": a, "acc_norm": an}));
    }
    let n = per_doc.len().max(1) as f64;
    Ok(TaskResult {
        task: task.task.clone(),
        output_type: task.output_type.clone(),
        docs: per_doc.len(),
        num_fewshot: n_shots,
        metrics: BTreeMap::from([
            ("acc".to_string(), acc / n),
            ("acc_norm".to_string(), acc_norm / n),
        ]),
        truncated: scores.iter().filter(|s| s.truncated).count(),
        samples,
    })
}

/// `output_type: loglikelihood` (LAMBADA-style): the target after the context; `perplexity` =
/// exp(−mean log-likelihood), `acc` = share of targets that are the greedy continuation.
fn loglikelihood(
    task: &TaskConfig,
    docs: &[Value],
    fields: &Fields,
    enc: &Encoder<'_>,
    scorer: &Scorer<'_>,
    opts: &EvalOptions,
) -> Result<TaskResult> {
    let doc_err = |doc: usize, m: String| doc_error(task, doc, m);
    if opts.num_fewshot.unwrap_or(0) > 0 {
        return Err(task.err("few-shot contexts are supported for multiple_choice only"));
    }
    let text_spec = task
        .doc_to_text
        .as_ref()
        .ok_or_else(|| task.err("`doc_to_text` is missing"))?;
    let target_spec = task
        .doc_to_target
        .as_ref()
        .ok_or_else(|| task.err("`doc_to_target` is missing"))?;
    let mut requests = Vec::new();
    let mut shown = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let as_text = |r: Resolved, field: &str| match r {
            Resolved::Text(t) => Ok(t),
            Resolved::Int(n) => Ok(n.to_string()),
            Resolved::List(_) => Err(doc_err(i, format!("{field} gives a list, not text"))),
        };
        let mut ctx = description(task, fields, d, i)?;
        let q = fields
            .resolve(text_spec, d, false, false)
            .map_err(|m| doc_err(i, format!("doc_to_text: {m}")))?;
        ctx.push_str(&as_text(q, "doc_to_text")?);
        let t = fields
            .resolve(target_spec, d, false, false)
            .map_err(|m| doc_err(i, format!("doc_to_target: {m}")))?;
        let target = as_text(t, "doc_to_target")?;
        requests.push(enc.pair(&ctx, &format!("{}{target}", task.target_delimiter))?);
        shown.push((ctx, target));
    }
    let scores = scorer.score(&requests)?;
    let n = scores.len().max(1) as f64;
    let mean_ll = scores.iter().map(|s| s.loglikelihood).sum::<f64>() / n;
    let acc = scores.iter().filter(|s| s.is_greedy).count() as f64 / n;
    let samples = shown
        .iter()
        .zip(&scores)
        .enumerate()
        .map(|(i, ((ctx, target), s))| json!({"doc": i, "context": ctx, "target": target, "loglikelihood": s.loglikelihood, "is_greedy": s.is_greedy}))
        .collect();
    Ok(TaskResult {
        task: task.task.clone(),
        output_type: task.output_type.clone(),
        docs: docs.len(),
        num_fewshot: 0,
        metrics: BTreeMap::from([
            ("perplexity".to_string(), (-mean_ll).exp()),
            ("acc".to_string(), acc),
        ]),
        truncated: scores.iter().filter(|s| s.truncated).count(),
        samples,
    })
}

/// An error about document `doc` of `task`.
fn doc_error(task: &TaskConfig, doc: usize, message: String) -> EvalError {
    EvalError::Document {
        task: task.task.clone(),
        doc,
        message,
    }
}

/// The task's `description` for document `i` (a column's text, else a rendered template), or
/// nothing.
fn description(task: &TaskConfig, fields: &Fields, d: &Value, i: usize) -> Result<String> {
    match &task.description {
        None => Ok(String::new()),
        Some(desc) => match d.get(desc) {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => fields
                .render(desc, d)
                .map_err(|m| doc_error(task, i, format!("description: {m}"))),
        },
    }
}
