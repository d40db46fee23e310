//! `glassbox chat`: a conversation through the model's chat template.
//!
//! Each input line is one user turn. In a terminal, `/reset`, `/system TEXT` and `/exit` are
//! understood; the same commands work from a pipe. The KV cache is kept between turns, so only
//! the new part of the conversation is computed.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use super::common::{ModelArg, SamplingArgs, load_engine};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    model: ModelArg,
    /// A system message to start the conversation with.
    #[arg(long, value_name = "TEXT")]
    system: Option<String>,
    #[command(flatten)]
    sampling: SamplingArgs,
}

pub(crate) fn run(a: Args) -> Result<()> {
    let engine = load_engine(&a.model.model, a.model.adapter.as_deref(), a.model.device)?;
    let template = engine.chat_template()?;
    let interactive = std::io::stdin().is_terminal();
    let mut system = a.system.clone();
    let mut messages: Vec<Value> = Vec::new();
    let mut session = engine.session();
    let stdout = std::io::stdout();
    let mut failures = 0usize;
    if interactive {
        eprintln!(
            "glassbox chat with {} — /reset clears the conversation, /system TEXT sets the system \
             message, /exit quits.",
            a.model.model.display()
        );
    }
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            eprint!("> ");
            let _ = std::io::stderr().flush();
        }
        let Some(line) = lines.next() else { break };
        let line = line.context("reading standard input")?;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        match line.split_once(' ').map_or((line, ""), |(c, r)| (c, r)) {
            ("/exit" | "/quit", _) => break,
            ("/reset", _) => {
                messages.clear();
                continue;
            }
            ("/system", rest) => {
                system = (!rest.trim().is_empty()).then(|| rest.trim().to_string());
                messages.clear();
                continue;
            }
            _ => {}
        }
        messages.push(json!({"role": "user", "content": line}));
        let mut all: Vec<Value> = system
            .iter()
            .map(|s| json!({"role": "system", "content": s}))
            .collect();
        all.extend(messages.iter().cloned());
        let result = template
            .render(&all, true, &Map::new())
            .map_err(anyhow::Error::from)
            .and_then(|prompt| Ok(engine.tokenizer.encode(&prompt, false)?))
            .and_then(|ids| {
                let request = a.sampling.request(&engine, ids);
                Ok(engine.generate_in(&mut session, &request, &mut |text| {
                    let mut lock = stdout.lock();
                    let _ = lock.write_all(text.as_bytes()).and_then(|_| lock.flush());
                })?)
            });
        match result {
            Ok(c) => {
                println!();
                messages.push(json!({"role": "assistant", "content": c.text}));
            }
            Err(e) => {
                failures += 1;
                messages.pop();
                eprintln!("error: {e:#}");
            }
        }
    }
    if failures > 0 && !interactive {
        bail!("{failures} turn(s) failed");
    }
    Ok(())
}
