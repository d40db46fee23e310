//! `glassbox data …`: the data pipeline verbs.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use glassbox_data::config::CurateConfig;
use glassbox_data::dataset::Dataset;
use glassbox_data::interop::{self, ImportFormat};
use glassbox_data::shards::Dtype;
use glassbox_data::tokenize::{self, TokenizeOptions};
use glassbox_data::{curate, tokenizer};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Data {
    /// Curate sources into normalised, filtered, deduplicated documents with a datasheet.
    #[command(
        after_help = "Example:\n  glassbox data curate --config sources.toml --out work/curated"
    )]
    Curate {
        /// The sources TOML (docs/data.md).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Output directory.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Render chat conversations into an instruction-tuning dataset (loss on assistant tokens).
    Chat(super::data_chat::ChatArgs),
    /// Train or extend a tokenizer.
    #[command(subcommand)]
    Tokenizer(TokenizerCmd),
    /// Tokenise curated documents into token shards with an index and manifest.
    #[command(
        after_help = "Example:\n  glassbox data tokenize --input work/curated --tokenizer work/tokenizer.json --out work/dataset"
    )]
    Tokenize {
        /// Curated directory (from `data curate`).
        #[arg(long, value_name = "DIR")]
        input: PathBuf,
        /// tokenizer.json.
        #[arg(long, value_name = "FILE")]
        tokenizer: PathBuf,
        /// Dataset directory to write.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Share of documents held out.
        #[arg(long, default_value_t = 0.01)]
        heldout: f64,
        /// Seed of the held-out choice.
        #[arg(long, default_value_t = 0)]
        heldout_seed: u64,
        /// End-of-sequence token appended after each document.
        #[arg(long, default_value = "<|endoftext|>")]
        eos: String,
        /// Token type (default: the smallest that holds the vocabulary).
        #[arg(long, value_parser = ["uint16", "uint32"])]
        dtype: Option<String>,
    },
    /// Write the data-order file for a sequence length and seed.
    #[command(
        after_help = "Example:\n  glassbox data order --dataset work/dataset --seq-len 256 --seed 1234"
    )]
    Order {
        #[command(flatten)]
        order: OrderArgs,
    },
    /// Print the batch of any training step, without training.
    #[command(
        after_help = "Example:\n  glassbox data batch --dataset work/dataset --seq-len 256 --batch-size 8 --seed 1234 --step 100"
    )]
    Batch {
        #[command(flatten)]
        order: OrderArgs,
        /// Batch size.
        #[arg(long)]
        batch_size: usize,
        /// Training step.
        #[arg(long)]
        step: u64,
        /// JSON output (token ids, text, documents).
        #[arg(long)]
        json: bool,
    },
    /// List every (step, row) in which a document's tokens were trained on.
    #[command(
        after_help = "Example:\n  glassbox data trace --dataset work/dataset --doc web-en:00000012:1a2b3c4d --seq-len 256 --batch-size 8 --seed 1234"
    )]
    Trace {
        #[command(flatten)]
        order: OrderArgs,
        /// Batch size.
        #[arg(long)]
        batch_size: usize,
        /// Document id.
        #[arg(long)]
        doc: String,
        /// Epochs to look through.
        #[arg(long, default_value_t = 1)]
        epochs: u64,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Export the train split for OLMo (memmap + global indices) or Megatron (.bin/.idx).
    #[command(
        after_help = "Examples:\n  glassbox data export --dataset work/dataset --format olmo --seq-len 256 --seed 1234 --out work/olmo\n  glassbox data export --dataset work/dataset --format megatron --out work/megatron"
    )]
    Export {
        /// Dataset directory.
        #[arg(long, value_name = "DIR")]
        dataset: PathBuf,
        /// Target format.
        #[arg(long, value_parser = ["olmo", "megatron"])]
        format: String,
        /// Output directory.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Sequence length (OLMo).
        #[arg(long, default_value_t = 2048)]
        seq_len: usize,
        /// Order seed (OLMo).
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Import a nanoGPT train.bin or an llm.c shard as a dataset.
    #[command(
        after_help = "Example:\n  glassbox data import --format nanogpt --input train.bin --eos-id 50256 --out work/imported"
    )]
    Import {
        /// Source format.
        #[arg(long, value_parser = ["nanogpt", "llmc"])]
        format: String,
        /// The token file.
        #[arg(long, value_name = "FILE")]
        input: PathBuf,
        /// The id that ends documents.
        #[arg(long)]
        eos_id: u32,
        /// A tokenizer.json to copy in.
        #[arg(long, value_name = "FILE")]
        tokenizer: Option<PathBuf>,
        /// Dataset directory to write.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Check a dataset against its manifest (headers, SHA-256 of every shard and the index).
    Verify {
        /// Dataset directory.
        #[arg(long, value_name = "DIR")]
        dataset: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct OrderArgs {
    /// Dataset directory.
    #[arg(long, value_name = "DIR")]
    dataset: PathBuf,
    /// Sequence length (a sample is seq_len + 1 tokens).
    #[arg(long)]
    seq_len: usize,
    /// Seed of the data order.
    #[arg(long)]
    seed: u64,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum TokenizerCmd {
    /// Train a byte-level BPE, deterministically.
    #[command(
        after_help = "Example:\n  glassbox data tokenizer train --input work/curated --vocab-size 8192 --out work/tokenizer.json"
    )]
    Train {
        /// Curated directory.
        #[arg(long, value_name = "DIR")]
        input: PathBuf,
        /// Vocabulary size, special tokens included.
        #[arg(long, default_value_t = 8192)]
        vocab_size: usize,
        /// Special tokens (repeatable; default <|endoftext|>).
        #[arg(long = "special", value_name = "TOKEN")]
        special: Vec<String>,
        /// Output tokenizer.json.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Add tokens learned from a new-language corpus without changing existing ids.
    #[command(
        after_help = "Example:\n  glassbox data tokenizer extend --tokenizer work/tokenizer.json --input work/curated-es --add 2000 --out work/tokenizer-es.json"
    )]
    Extend {
        /// The tokenizer to extend.
        #[arg(long, value_name = "FILE")]
        tokenizer: PathBuf,
        /// Curated directory of the new language.
        #[arg(long, value_name = "DIR")]
        input: PathBuf,
        /// Tokens to add at most.
        #[arg(long, default_value_t = 1000)]
        add: usize,
        /// Output tokenizer.json.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// JSON report.
        #[arg(long)]
        json: bool,
    },
}

fn bar(len: Option<u64>, what: &str) -> indicatif::ProgressBar {
    let b = match len {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} {msg} {pos} [{elapsed_precise}] {per_sec}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
    b.set_style(style);
    b.set_message(what.to_string());
    b
}

fn docs_of(dir: &std::path::Path) -> Result<Vec<String>> {
    let m = curate::read_manifest(dir)?;
    let mut docs = Vec::new();
    curate::for_each_doc(dir, &m, &mut |d| {
        docs.push(d.text);
        Ok(())
    })?;
    Ok(docs)
}

pub(crate) fn run(d: Data) -> Result<()> {
    match d {
        Data::Chat(args) => super::data_chat::run(args)?,
        Data::Curate { config, out } => {
            let cfg = CurateConfig::from_file(&config)?;
            let b = bar(None, "documents read");
            let r = curate::curate(&cfg, &out, &mut |p| b.set_position(p.read))?;
            b.finish_and_clear();
            let t = &r.datasheet.totals;
            println!(
                "curated {} of {} documents into {} ({} removed; datasheet: {})",
                t.get("documents_kept").unwrap_or(&0),
                t.get("documents_read").unwrap_or(&0),
                out.display(),
                t.get("documents_removed").unwrap_or(&0),
                out.join("datasheet.md").display()
            );
            for (l, s) in &r.datasheet.languages {
                println!(
                    "  {l}: {} documents, {} characters, {} words",
                    s.documents, s.characters, s.words
                );
            }
        }
        Data::Tokenizer(TokenizerCmd::Train {
            input,
            vocab_size,
            special,
            out,
        }) => {
            let docs = docs_of(&input)?;
            let mut opts = tokenizer::TrainOptions {
                vocab_size,
                ..Default::default()
            };
            if !special.is_empty() {
                opts.special_tokens = special;
            }
            let tk = tokenizer::train(docs.into_iter(), &opts, &out)?;
            let json = tokenizer::to_json(&tk, &out)?;
            glassbox_core::fsio::atomic_write(&out, json.as_bytes())?;
            println!(
                "wrote {} ({} tokens, SHA-256 {})",
                out.display(),
                tk.get_vocab_size(true),
                glassbox_core::hash::sha256_hex(json.as_bytes())
            );
        }
        Data::Tokenizer(TokenizerCmd::Extend {
            tokenizer: base_path,
            input,
            add,
            out,
            json,
        }) => {
            let base = tokenizer::load(&base_path)?;
            let docs = docs_of(&input)?;
            let (tk, report) = tokenizer::extend(&base, &docs, add, &base_path)?;
            glassbox_core::fsio::atomic_write(&out, tokenizer::to_json(&tk, &out)?.as_bytes())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "added {} tokens ({} → {}); fertility on {}: {:.3} → {:.3} tokens per word\nexamples: {}",
                    report.added,
                    report.vocab_before,
                    report.vocab_after,
                    input.display(),
                    report.fertility_before,
                    report.fertility_after,
                    report
                        .examples
                        .iter()
                        .map(|e| format!("{e:?}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
        }
        Data::Tokenize {
            input,
            tokenizer,
            out,
            heldout,
            heldout_seed,
            eos,
            dtype,
        } => {
            let opts = TokenizeOptions {
                eos,
                heldout_fraction: heldout,
                heldout_seed,
                dtype: dtype.map(|d| {
                    if d == "uint16" {
                        Dtype::Uint16
                    } else {
                        Dtype::Uint32
                    }
                }),
                ..Default::default()
            };
            let b = bar(None, "documents tokenised");
            let m =
                tokenize::tokenize(&input, &tokenizer, &out, &opts, &mut |n| b.set_position(n))?;
            b.finish_and_clear();
            println!(
                "wrote {}: {} train tokens in {} documents, {} held-out tokens in {} documents ({:?})",
                out.display(),
                m.splits["train"].tokens,
                m.splits["train"].documents,
                m.splits["heldout"].tokens,
                m.splits["heldout"].documents,
                m.dtype
            );
        }
        Data::Order { order } => {
            let mut ds = Dataset::open(&order.dataset)?;
            let (path, sha) = ds.write_order(order.seq_len, order.seed)?;
            println!(
                "wrote {} ({} samples, SHA-256 {sha})",
                path.display(),
                ds.num_samples(order.seq_len)
            );
        }
        Data::Batch {
            order,
            batch_size,
            step,
            json,
        } => {
            let mut ds = Dataset::open(&order.dataset)?;
            let batch = ds.batch(step, batch_size, order.seq_len, order.seed)?;
            let tk = tokenizer::load(&order.dataset.join("tokenizer.json")).ok();
            let text = |ids: &[u32]| tk.as_ref().and_then(|t| t.decode(ids, false).ok());
            if json {
                let rows: Vec<serde_json::Value> = batch
                    .iter()
                    .map(|s| serde_json::json!({"row": s.row, "position": s.position, "epoch": s.epoch, "sample": s.index, "tokens": s.tokens, "text": text(&s.tokens), "documents": s.documents}))
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"schema_version": 1, "step": step, "batch_size": batch_size, "seq_len": order.seq_len, "seed": order.seed, "rows": rows})
                    )?
                );
            } else {
                for s in &batch {
                    let docs: Vec<String> = s
                        .documents
                        .iter()
                        .map(|d| format!("{} ({} tokens)", d.id, d.tokens))
                        .collect();
                    println!(
                        "row {} · sample {} · epoch {} · from {}",
                        s.row,
                        s.index,
                        s.epoch,
                        docs.join(", ")
                    );
                    if let Some(t) = text(&s.tokens) {
                        let short: String = t.chars().take(160).collect();
                        println!("    {}", short.replace('\n', " ⏎ "));
                    }
                }
            }
        }
        Data::Trace {
            order,
            batch_size,
            doc,
            epochs,
            json,
        } => {
            let ds = Dataset::open(&order.dataset)?;
            let occ = ds.trace(&doc, batch_size, order.seq_len, order.seed, epochs)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"schema_version": 1, "doc": doc, "occurrences": occ})
                    )?
                );
            } else {
                println!("{doc}: trained on in {} (step, row) positions", occ.len());
                for o in &occ {
                    println!(
                        "  step {:>8} row {:>4}  sample {:>8}  epoch {}  {} tokens",
                        o.step, o.row, o.sample, o.epoch, o.tokens
                    );
                }
            }
        }
        Data::Export {
            dataset,
            format,
            out,
            seq_len,
            seed,
        } => {
            let mut ds = Dataset::open(&dataset)?;
            let files = if format == "olmo" {
                interop::export_olmo(&mut ds, seq_len, seed, &out)?
            } else {
                interop::export_megatron(&mut ds, &out, "train")?
            };
            for (f, sha) in files {
                println!("{}  {sha}", out.join(f).display());
            }
        }
        Data::Import {
            format,
            input,
            eos_id,
            tokenizer,
            out,
        } => {
            let f = match format.as_str() {
                "nanogpt" => ImportFormat::NanoGpt,
                "llmc" => ImportFormat::Llmc,
                other => bail!("unknown format {other}"),
            };
            let m = interop::import(&input, f, eos_id, tokenizer.as_deref(), &out)
                .with_context(|| format!("importing {}", input.display()))?;
            println!(
                "wrote {}: {} tokens in {} documents",
                out.display(),
                m.splits["train"].tokens,
                m.splits["train"].documents
            );
        }
        Data::Verify { dataset } => {
            let ds = Dataset::open(&dataset)?;
            println!(
                "{}: manifest, {} shards and the index match their SHA-256 ({} train tokens, {} held-out tokens)",
                dataset.display(),
                ds.manifest
                    .splits
                    .values()
                    .map(|s| s.shards.len())
                    .sum::<usize>(),
                ds.tokens_in("train"),
                ds.tokens_in("heldout")
            );
        }
    }
    Ok(())
}
