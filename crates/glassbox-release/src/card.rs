//! The model card (`README.md`, Hugging Face YAML front matter) and the paper (`paper/paper.md`):
//! both written from the run's own records, so every number in them can be checked against the
//! bundle.

use std::fmt::Write as _;

use glassbox_train::recipe::Recipe;
use serde_json::Value;

/// What the card and the paper are written from.
#[derive(Debug)]
pub(crate) struct Context<'a> {
    pub name: &'a str,
    pub release: &'a Value,
    pub run_json: &'a Value,
    pub recipe: &'a Recipe,
    pub datasheet: &'a Value,
    pub evals: &'a [Value],
    /// Every checkpoint's results on each task of `evals/`.
    pub curves: &'a [crate::card_evals::Curve],
    pub revision: &'a Value,
    pub checkpoints: &'a [Value],
}

fn yaml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn num(v: Option<&Value>) -> String {
    match v {
        Some(Value::Number(n)) => n.to_string(),
        _ => "–".into(),
    }
}

fn f4(v: Option<&Value>) -> String {
    v.and_then(Value::as_f64)
        .map_or("–".into(), |x| format!("{x:.4}"))
}

impl Context<'_> {
    fn lic(&self, k: &str) -> String {
        self.release
            .pointer(&format!("/licenses/{k}"))
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string()
    }

    fn cfg(&self, k: &str) -> String {
        num(self.run_json.pointer(&format!("/model_config/{k}")))
    }

    fn sources_line(&self) -> String {
        self.release
            .get("sources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|s| {
                format!(
                    "`{}` ({})",
                    s.get("name").and_then(Value::as_str).unwrap_or("?"),
                    s.get("license").and_then(Value::as_str).unwrap_or("?")
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn commit(&self) -> (String, bool) {
        (
            self.revision
                .get("commit")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string(),
            self.revision
                .get("dirty")
                .and_then(Value::as_bool)
                .unwrap_or(true),
        )
    }

    fn checkpoint_steps(&self) -> String {
        self.checkpoints
            .iter()
            .map(|x| num(x.get("step")))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn final_eval(&self) -> Option<&Value> {
        self.evals.last()
    }

    /// The base model's directory, for a run that started from one.
    fn base_path(&self) -> Option<&str> {
        self.release.pointer("/base/path").and_then(Value::as_str)
    }

    /// The LoRA adapter's `adapter_config.json`, for an adapter release.
    fn adapter(&self) -> Option<&Value> {
        self.release.get("adapter").filter(|a| a.is_object())
    }

    /// Whether the run trained on conversations (instruction tuning).
    fn chat(&self) -> bool {
        self.release
            .pointer("/dataset/kind")
            .and_then(Value::as_str)
            == Some("chat")
    }

    /// What was trained, from what: the opening of the card and the paper.
    /// The engine that trained the run, when it was not glassbox (`glassbox import-run`).
    fn trained_by(&self) -> Option<&Value> {
        self.run_json.get("trained_by").filter(|v| v.is_object())
    }

    /// What `glassbox verify` can replay of this run.
    fn replay_sentence(&self) -> String {
        match self.trained_by() {
            None => match self
                .run_json
                .get("device")
                .and_then(Value::as_str)
                .filter(|d| *d != "cpu")
            {
                None => "Anyone can check it with `glassbox verify` and replay any part of its training to the same bits.".into(),
                Some(d) => format!(
                    "It was trained on {d}. Anyone can check it with `glassbox verify`: the hashes, the data order against its seed, and a replay of any part of its training on the CPU, which agrees within 1e-4 and not to the bit (the GPU's arithmetic is not the CPU's)."
                ),
            },
            Some(t) => format!(
                "It was trained by {} ({}torch {}, {} processes over {}) from a `glassbox export-run` of this recipe and data order, and imported with `glassbox import-run`. Anyone can check it with `glassbox verify`: the hashes, the data order against its seed, and a replay of its first steps from the step-0 weights, which agrees within 1e-4 and not to the bit (the engine's arithmetic is not glassbox's; the engine's optimiser state is not part of the release, so later intervals cannot be replayed).",
                t.get("engine").and_then(Value::as_str).unwrap_or("another engine"),
                // The engine's own library and version, when it recorded one.
                [("olmo_core", "OLMo-core"), ("megatron_core", "Megatron-Core")]
                    .iter()
                    .find_map(|(key, name)| {
                        t.get(*key)
                            .and_then(Value::as_str)
                            .map(|v| format!("{name} {v}, "))
                    })
                    .unwrap_or_default(),
                t.get("torch").and_then(Value::as_str).unwrap_or("?"),
                num(t.get("world_size")),
                t.get("backend").and_then(Value::as_str).unwrap_or("?"),
            ),
        }
    }

    fn origin(&self) -> String {
        let arch = self
            .run_json
            .pointer("/model_config/architectures/0")
            .and_then(Value::as_str)
            .unwrap_or("transformer");
        let params = num(self.run_json.get("parameters"));
        let how = if self.chat() {
            "instruction-tuned"
        } else {
            "trained"
        };
        match (self.adapter(), self.base_path()) {
            (Some(a), base) => format!(
                "A LoRA adapter (rank {}, alpha {}, on {}; PEFT format) {how} with glassbox for the {params}-parameter {arch} model in `{}`, which stays frozen",
                num(a.get("r")),
                num(a.get("lora_alpha")),
                a.get("target_modules")
                    .and_then(Value::as_array)
                    .map(|t| t
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_default(),
                base.unwrap_or("?")
            ),
            (None, Some(base)) => format!(
                "A {params}-parameter {arch} language model {how} with glassbox starting from the model in `{base}`"
            ),
            (None, None) => match self.trained_by() {
                Some(t) => format!(
                    "A {params}-parameter {arch} language model {how} from scratch by {} from a glassbox export",
                    t.get("engine")
                        .and_then(Value::as_str)
                        .unwrap_or("another engine")
                ),
                None => format!(
                    "A {params}-parameter {arch} language model {how} from scratch with glassbox"
                ),
            },
        }
    }

    /// One sentence on the training data.
    fn data_line(&self) -> String {
        if self.chat() {
            format!(
                "{} tokens of conversations (`data/source.jsonl`; the loss on the assistant's tokens only)",
                self.tokens_trained()
            )
        } else {
            format!(
                "{} tokens of {}",
                self.tokens_trained(),
                self.sources_line()
            )
        }
    }

    fn tokens_trained(&self) -> u64 {
        let r = &self.recipe.train;
        self.release
            .get("final_step")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            * (r.batch_size * r.seq_len) as u64
    }
}

/// Table rows `| step | loss | perplexity |` of evaluations.
fn eval_rows(evals: &[Value]) -> String {
    evals
        .iter()
        .map(|e| {
            format!(
                "| {} | {} | {} |\n",
                num(e.get("step")),
                f4(e.get("loss")),
                f4(e.get("perplexity"))
            )
        })
        .collect()
}

/// `README.md`: HF front matter (licence, languages, datasets, tags, `model-index` with the
/// held-out results) and the human part.
pub(crate) fn model_card(c: &Context<'_>) -> String {
    let (hf_license, license_name) = crate::licenses::hf_card_id(&c.lic("weights"));
    let mut s = String::from("---\n");
    let _ = writeln!(s, "license: {}", yaml_str(&hf_license));
    if let Some(n) = license_name {
        let _ = writeln!(s, "license_name: {}", yaml_str(&n));
        s.push_str("license_link: LICENSE\n");
    }
    let langs: Vec<String> = c
        .release
        .get("language")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(yaml_str)
        .collect();
    if !langs.is_empty() {
        let _ = writeln!(s, "language: [{}]", langs.join(", "));
    }
    let datasets: Vec<String> = c
        .release
        .get("sources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("name").and_then(Value::as_str))
        .map(yaml_str)
        .collect();
    let _ = writeln!(s, "datasets: [{}]", datasets.join(", "));
    s.push_str("library_name: transformers\npipeline_tag: text-generation\ntags: [glassbox, llama, radical-openness, pythia-style-checkpoints]\n");
    if let Some(e) = c.final_eval() {
        let _ = write!(
            s,
            "model-index:\n- name: {}\n  results:\n  - task:\n      type: text-generation\n      name: Causal language modelling\n    dataset:\n      name: {}\n      type: glassbox-heldout\n      split: heldout\n    metrics:\n    - type: loss\n      name: held-out cross-entropy (nats/token)\n      value: {}\n    - type: perplexity\n      name: held-out perplexity\n      value: {}\n",
            yaml_str(c.name),
            yaml_str("held-out split of the training corpus (eval/heldout-data.jsonl)"),
            f4(e.get("loss")),
            f4(e.get("perplexity")),
        );
        s.push_str(&crate::card_evals::model_index_results(c.curves));
    }
    s.push_str("---\n\n");
    let (commit, dirty) = c.commit();
    let _ = write!(
        s,
        "# {name}\n\n{origin} ([glassbox]({repo})), on {data}. This directory is a glassbox **release bundle**: \
besides the weights it holds the training data and its exact order, the resolved recipe, every \
intermediate checkpoint, the logs, the evaluation, the code that trained it and a `MANIFEST.json` \
with the SHA-256 of every file. {replay}\n\n",
        name = c.name,
        origin = c.origin(),
        replay = c.replay_sentence(),
        repo = c
            .revision
            .get("repository")
            .and_then(Value::as_str)
            .unwrap_or("https://github.com/glassbox-ai/glassbox"),
        data = c.data_line(),
    );
    let verb = if c.chat() { "chat" } else { "generate" };
    let prompt = if c.chat() {
        ""
    } else {
        " --prompt \"And God said\""
    };
    match (c.adapter(), c.base_path()) {
        (Some(_), base) => {
            let _ = write!(
                s,
                "## Use\n\nThe adapter follows PEFT's layout (`adapter_config.json`, `adapter_model.safetensors`); it \
runs on its base model, whose terms it inherits:\n\n```sh\nglassbox {verb} --model {base} --adapter .{prompt}\nglassbox merge-adapter --model {base} --adapter . --out merged   # a plain model directory\n```\n\n\
In Python, `peft.PeftModel.from_pretrained(base_model, \".\")` loads it.\n\n",
                base = base.unwrap_or("BASE")
            );
        }
        _ => {
            let _ = write!(
                s,
                "## Use\n\nThe model files follow the Hugging Face layout (`config.json`, `model.safetensors`, \
`tokenizer.json`), so transformers, vLLM and glassbox load them:\n\n```sh\nglassbox {verb} --model .{prompt}\n```\n\n"
            );
        }
    }
    if let Some(files) = c
        .release
        .get("gguf")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
    {
        let list: Vec<String> = files
            .iter()
            .filter_map(|f| {
                Some(format!(
                    "`{}` ({})",
                    f.get("file")?.as_str()?,
                    f.get("type")?.as_str()?
                ))
            })
            .collect();
        let _ = write!(
            s,
            "GGUF copies for llama.cpp and Ollama: {}, made from these weights and recorded in \
`release.json`; `glassbox verify` makes them again and compares the bytes.\n\n",
            list.join(", ")
        );
    }
    s.push_str("## Training\n\n");
    let r = c.recipe;
    let _ = write!(
        s,
        "| | |\n|---|---|\n| architecture | {}: {} layers, hidden {}, {} heads ({} key/value), vocabulary {}, context {} |\n| steps | {} of batch {} × {} tokens |\n| optimiser | AdamW, lr {}, betas {:?}, eps {}, weight decay {} |\n| schedule | {} warmup steps, {:?} decay to {} |\n| gradient clipping | global norm {} |\n| data order seed | {} |\n| checkpoints | {} (steps {}) |\n\n",
        c.run_json
            .pointer("/model_config/architectures/0")
            .and_then(Value::as_str)
            .unwrap_or("(unknown architecture)"),
        c.cfg("num_hidden_layers"),
        c.cfg("hidden_size"),
        c.cfg("num_attention_heads"),
        c.cfg("num_key_value_heads"),
        c.cfg("vocab_size"),
        c.cfg("max_position_embeddings"),
        num(c.release.get("final_step")),
        r.train.batch_size,
        r.train.seq_len,
        r.optim.lr,
        r.optim.betas,
        r.optim.eps,
        r.optim.weight_decay,
        r.schedule.warmup_steps,
        r.schedule.decay,
        r.min_lr(),
        r.train.max_grad_norm,
        r.data.seed,
        c.checkpoints.len(),
        c.checkpoint_steps(),
    );
    if let Some(init) = c.run_json.get("init").filter(|v| v.is_object()) {
        // Continual pre-training: the model this one was trained from, and its terms.
        let _ = write!(
            s,
            "Training continued from the model in `{}` (its `model.safetensors` SHA-256 `{}`), whose card declares the licence `{}`{}. A model adapted from another comes under its base's terms as well as its own; `run.json` records the base's files and hashes.\n\n",
            init.get("path").and_then(Value::as_str).unwrap_or("?"),
            init.pointer("/sha256/model.safetensors")
                .and_then(Value::as_str)
                .unwrap_or("(sharded or absent)"),
            init.get("license")
                .and_then(Value::as_str)
                .unwrap_or("(none declared)"),
            match init.get("license_files").and_then(Value::as_array) {
                Some(f) if !f.is_empty() => format!(
                    " and which ships {}",
                    f.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                _ => String::new(),
            }
        );
    }
    s.push_str("The resolved recipe is `recipe.toml`; per-step losses are in `logs/train.jsonl`, the held-out \
evaluations in `logs/eval.jsonl` and the curve in `loss.svg`.\n\n## Training data\n\n");
    if c.chat() {
        s.push_str("The conversations are `data/source.jsonl`, rendered with the chat template in \
`data/tokenizer_config.json`; the rows (tokens, conversation of each token, whether it is trained on) and the \
data order are in `data/` (`data/manifest.json` holds their hashes, and lists conversations cut or left out).\n\n");
    } else {
        let _ = write!(
            s,
            "Sources: {}. The curation (filters, deduplication, what each removed, with examples) is described \
in `data/datasheet.md`; the token shards, document index and data order are in `data/` \
(`data/manifest.json` holds their hashes).\n\n",
            c.sources_line()
        );
    }
    s.push_str("## Evaluation\n\n| step | held-out loss | perplexity |\n|---|---|---|\n");
    s.push_str(&eval_rows(&c.evals[c.evals.len().saturating_sub(6)..]));
    s.push_str("\nThe held-out documents are in `eval/heldout-data.jsonl`, the figures in `eval/eval_results.json`; \
the evaluation code is `code/crates/glassbox-train/src/eval.rs`.\n\n");
    if let Some(curves) = c
        .release
        .get("evals")
        .and_then(Value::as_array)
        .filter(|v| !v.is_empty())
    {
        let list: Vec<String> = curves
            .iter()
            .filter_map(Value::as_str)
            .map(|t| format!("`evals/{t}.svg` (`evals/{t}.jsonl`)"))
            .collect();
        let _ = write!(
            s,
            "Every checkpoint evaluated (`glassbox eval --run`): {}; the built-in tasks are in `evals/tasks/`.\n\n{}\n",
            list.join(", "),
            crate::card_evals::card_table(c.curves)
        );
    }
    s.push_str(if c.chat() {
        "## Limitations\n\nThis model was instruction-tuned on the conversations in `data/source.jsonl` only; it was \
not aligned or evaluated for safety, may produce wrong or harmful answers with confidence, and must not be used \
to give advice or make decisions.\n\n"
    } else {
        "## Limitations\n\nThis is a small model trained briefly on one corpus: it continues text in the \
style of its training data, knows nothing beyond it, and produces fluent-looking but often meaningless \
or repetitive text. It was not instruction-tuned, aligned or evaluated for safety, and must not be \
used to give advice or make decisions.\n\n"
    });
    let _ = write!(
        s,
        "## Reproduce\n\nThe code is `code/` (glassbox {version}, commit `{commit}`{dirty}; toolchain and \
dependency versions in `code_revision.json`).\n\n```sh\nglassbox verify .                 # hashes, data re-derivation (with the corpus), replay of the last interval\nglassbox verify . --from 0 --to 1 # replay another interval\nglassbox trace . --step 10        # the documents trained on up to step 10\n```\n\n",
        version = c
            .revision
            .get("glassbox_version")
            .and_then(Value::as_str)
            .unwrap_or("?"),
        dirty = if dirty {
            ", built from a working tree with uncommitted changes"
        } else {
            ""
        },
    );
    let _ = write!(
        s,
        "## Licences\n\n| component | licence | text |\n|---|---|---|\n| weights, checkpoints, card | {} | `LICENSE` |\n| code | {} | `code/LICENSE` |\n| training data | {} | `data/LICENSE` |\n| paper | {} | `paper/LICENSE` |\n\nThe write-up of this run is `paper/paper.md`.\n",
        c.lic("weights"),
        c.lic("code"),
        c.lic("data"),
        c.lic("docs")
    );
    s
}

/// `paper/paper.md`: the write-up of the run (abstract, data, model, training, results,
/// reproducibility, limitations, references).
pub(crate) fn paper(c: &Context<'_>) -> String {
    let mut s = String::new();
    let params = num(c.run_json.get("parameters"));
    let first = c.evals.first();
    let last = c.final_eval();
    let r = c.recipe;
    let _ = write!(
        s,
        "# {name}: a fully reproducible {params}-parameter language model\n\n*Generated by glassbox {version} \
from the run's own records; every figure below can be checked against the files of this bundle.*\n\n\
## Abstract\n\n{origin}, on {data}. Held-out cross-entropy falls from {l0} to {l1} nats per \
token (perplexity {p1}). We release the weights, every intermediate checkpoint with its optimiser \
state, the curated and tokenised training data with its exact sample order, the evaluation data, the \
training logs, the resolved recipe and the source code, all hashed, so that any interval of training \
can be replayed and checked bit for bit.\n\n",
        name = c.name,
        version = c
            .revision
            .get("glassbox_version")
            .and_then(Value::as_str)
            .unwrap_or("?"),
        origin = c.origin(),
        data = c.data_line(),
        l0 = f4(first.and_then(|e| e.get("loss"))),
        l1 = f4(last.and_then(|e| e.get("loss"))),
        p1 = f4(last.and_then(|e| e.get("perplexity"))),
    );
    if c.chat() {
        let _ = write!(
            s,
            "## 1 Data\n\nThe conversations of `data/source.jsonl` were rendered with the chat template in \
`data/tokenizer_config.json` by `glassbox data chat`; only the assistant's tokens (each assistant turn as the \
template writes it, end-of-turn marker included) carry loss. {held} conversations, chosen by a hash of their line \
numbers, are held out ({ht} tokens); the rest ({tt} tokens) fill rows of {l1} tokens, visited in the seeded \
permutation stored in `{order}`.\n\n",
            held = num(c.release.pointer("/dataset/heldout_documents")),
            ht = num(c.release.pointer("/dataset/heldout_tokens")),
            tt = num(c.release.pointer("/dataset/train_tokens")),
            l1 = r.train.seq_len + 1,
            order = c
                .release
                .pointer("/order/file")
                .and_then(Value::as_str)
                .unwrap_or("?"),
        );
    } else {
        let totals = c.datasheet.get("totals");
        let _ = write!(
            s,
            "## 1 Data\n\nThe corpus ({sources}) was curated by `glassbox data curate`: Unicode NFC and whitespace \
    normalisation, language identification, the quality filters enabled in the configuration recorded in \
    `data/datasheet.json`, exact and MinHash near-duplicate removal. Of {read} documents read, {kept} \
    were kept ({words} words); `data/datasheet.md` lists what each filter removed, with examples. A \
    byte-level BPE tokenizer of {vocab} tokens was trained on the curated text. {held} of the documents, \
    chosen by a hash of their ids, form the held-out split ({ht} tokens); the rest ({tt} tokens) are \
    training data. Training sample *i* is the window of {l1} tokens starting at token *i*·{l} of the \
    training stream; samples are visited in the seeded permutation stored in `{order}`.\n\n",
            sources = c.sources_line(),
            read = num(totals.and_then(|t| t.get("documents_read"))),
            kept = num(totals.and_then(|t| t.get("documents_kept"))),
            words = num(totals.and_then(|t| t.get("words_kept"))),
            vocab = c.cfg("vocab_size"),
            held = num(c.release.pointer("/dataset/heldout_documents")),
            ht = num(c.release.pointer("/dataset/heldout_tokens")),
            tt = num(c.release.pointer("/dataset/train_tokens")),
            l1 = r.train.seq_len + 1,
            l = r.train.seq_len,
            order = c
                .release
                .pointer("/order/file")
                .and_then(Value::as_str)
                .unwrap_or("?"),
        );
    }
    let _ = write!(
        s,
        "## 2 Model\n\nA decoder-only transformer as in Llama (Touvron et al., 2023): {layers} layers, \
hidden size {h}, MLP size {i} with SwiGLU, {heads} attention heads ({kv} key/value heads), rotary \
position embeddings (θ = {theta}), RMSNorm (ε = {eps}), tied input and output embeddings, context \
{ctx} tokens. {start}\n\n",
        layers = c.cfg("num_hidden_layers"),
        h = c.cfg("hidden_size"),
        i = c.cfg("intermediate_size"),
        heads = c.cfg("num_attention_heads"),
        kv = c.cfg("num_key_value_heads"),
        theta = c.cfg("rope_theta"),
        eps = c.cfg("rms_norm_eps"),
        ctx = c.cfg("max_position_embeddings"),
        start = match (c.adapter(), c.base_path()) {
            (Some(_), Some(b)) => format!(
                "The weights of the model in `{b}` stay frozen; only the LoRA adapter's matrices are trained (A from a seeded Kaiming-uniform draw, B from zero)."
            ),
            (_, Some(b)) =>
                format!("Weights start from the model in `{b}` (hashes in `run.json`)."),
            _ => format!(
                "Weights are initialised from N(0, 0.02²) with seed {}.",
                r.model.init_seed
            ),
        },
    );
    let _ = write!(
        s,
        "## 3 Training\n\nAdamW (Loshchilov & Hutter, 2019) with learning rate {lr}, β = {betas:?}, ε = {aeps}, \
weight decay {wd} on matrices only; {warm} warmup steps then {decay:?} decay to {min}; global-norm \
gradient clipping at {clip}; {steps} steps of {b} samples × {l} tokens, {accum} micro-batch(es) per \
step, fp32 on CPU with {threads} thread(s). Checkpoints follow Pythia's schedule (Biderman et al., \
2023): steps {cks}.\n\n",
        lr = r.optim.lr,
        betas = r.optim.betas,
        aeps = r.optim.eps,
        wd = r.optim.weight_decay,
        warm = r.schedule.warmup_steps,
        decay = r.schedule.decay,
        min = r.min_lr(),
        clip = r.train.max_grad_norm,
        steps = num(c.release.get("final_step")),
        b = r.train.batch_size,
        l = r.train.seq_len,
        accum = r.train.grad_accum,
        threads = num(c.run_json.get("threads")),
        cks = c.checkpoint_steps(),
    );
    s.push_str(
        "## 4 Results\n\nHeld-out loss over the first evaluation windows of the held-out split \
(`logs/eval.jsonl`; the curve is `loss.svg`):\n\n| step | loss | perplexity |\n|---|---|---|\n",
    );
    s.push_str(&eval_rows(c.evals));
    s.push_str(&crate::card_evals::paper_section(c.curves));
    let (commit, dirty) = c.commit();
    let _ = write!(
        s,
        "\n## 5 Reproducibility\n\nThe bundle's `MANIFEST.json` holds the SHA-256 of every file. \
`glassbox verify` checks them, re-derives the dataset from the corpus when it is available and \
compares its manifest, and replays training between two checkpoints, comparing the weights bit for \
bit (results are promised identical on the same thread count). The code is `code/` at commit \
`{commit}`{dirty}; `code_revision.json` lists the compiler and every dependency version. \
`glassbox trace` maps any document to the steps and checkpoints that saw it, and any step to the \
documents trained on up to it.\n\n## 6 Limitations\n\nThe model is small and trained briefly on a \
single corpus; held-out loss on text from the same corpus says little about other text. No \
instruction tuning, alignment or safety evaluation was done.\n\n## References\n\n\
- Biderman et al. (2023). Pythia: A Suite for Analyzing Large Language Models Across Training and Scaling. ICML. arXiv:2304.01373\n\
- Touvron et al. (2023). Llama 2: Open Foundation and Fine-Tuned Chat Models. arXiv:2307.09288\n\
- Loshchilov & Hutter (2019). Decoupled Weight Decay Regularization. ICLR. arXiv:1711.05101\n\
- Rae et al. (2021). Scaling Language Models: Methods, Analysis & Insights from Training Gopher. arXiv:2112.11446\n\
- Raffel et al. (2020). Exploring the Limits of Transfer Learning with a Unified Text-to-Text Transformer (C4). JMLR. arXiv:1910.10683\n\
- Penedo et al. (2024). The FineWeb Datasets. arXiv:2406.17557\n\
- Broder (1997). On the resemblance and containment of documents (MinHash).\n\
- Groeneveld et al. (2024). OLMo: Accelerating the Science of Language Models. arXiv:2402.00838\n",
        dirty = if dirty {
            " (with uncommitted changes)"
        } else {
            ""
        },
    );
    s
}
