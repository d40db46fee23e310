//! `glassbox serve`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use glassbox_infer::scheduler::SchedulerOptions;
use glassbox_serve::server::{self, ServerOptions};
use glassbox_serve::state::{AppState, Limits, ModelSpec};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A model directory (Hugging Face layout), or NAME=DIR; repeat to serve several. Clients
    /// choose one with the `model` field (default name: the directory's name).
    #[arg(long = "model", value_name = "[NAME=]DIR", required = true)]
    models: Vec<String>,
    /// A LoRA adapter (PEFT directory) for the model named NAME (or for the only model); repeat
    /// for several.
    #[arg(long = "adapter", value_name = "[NAME=]DIR")]
    adapters: Vec<String>,
    /// Address to bind. The default accepts local connections only; bind 0.0.0.0 deliberately.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port (0: any free port; the chosen one is printed).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Require `Authorization: Bearer KEY` on every endpoint but /health (or set
    /// GLASSBOX_API_KEY).
    #[arg(
        long,
        value_name = "KEY",
        env = "GLASSBOX_API_KEY",
        hide_env_values = true
    )]
    api_key: Option<String>,
    /// Sequences decoded together per model.
    #[arg(long, default_value_t = 16)]
    max_batch: usize,
    /// Requests allowed to wait per model; past it, 429 with Retry-After.
    #[arg(long, default_value_t = 64)]
    max_queue: usize,
    /// Most prompt tokens prefilled between two decoding steps: long prompts are prefilled in
    /// chunks so running streams keep producing tokens.
    #[arg(long, default_value_t = 512)]
    prefill_chunk: usize,
    /// Seconds a request may wait in the queue; one still waiting then is answered 429 when its
    /// turn comes, so admitted requests finish within this wait plus their own work (0: no
    /// limit).
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    max_queue_wait: f64,
    /// Largest `max_tokens` a request may ask for.
    #[arg(long, default_value_t = 4096)]
    max_tokens: usize,
    /// Largest `n`.
    #[arg(long, default_value_t = 16)]
    max_n: usize,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    max_body_bytes: usize,
    /// Seconds allowed for a request's headers, and for its body.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Seconds in-flight requests get to finish after Ctrl-C or SIGTERM.
    #[arg(long, default_value_t = 30)]
    shutdown_grace: u64,
    /// A folder the web pages may read (the openness report of any release inside it, and its
    /// files); repeat for several. The served models' own folders are always readable.
    #[arg(long = "browse", value_name = "DIR")]
    browse: Vec<PathBuf>,
    /// A folder of training runs and release bundles (a quickstart's output, say) shown on the
    /// runs pages at /runs: curves, checkpoints, samples, trace, and any checkpoint loaded into
    /// the playground.
    #[arg(long, value_name = "DIR")]
    runs: Option<PathBuf>,
}

/// `--max-queue-wait`: a finite, non-negative number of seconds; 0 is no limit.
fn queue_wait(seconds: f64) -> Result<Option<Duration>> {
    if !(0.0..=1e9).contains(&seconds) {
        return Err(anyhow!(
            "--max-queue-wait {seconds}: give seconds between 0 (no limit) and 1e9"
        ));
    }
    Ok((seconds > 0.0).then(|| Duration::from_secs_f64(seconds)))
}

pub(crate) fn run(a: Args) -> Result<()> {
    let mut specs: Vec<ModelSpec> = a.models.iter().map(|m| ModelSpec::parse(m)).collect();
    for ad in &a.adapters {
        let (name, dir) = match ad.split_once('=') {
            Some((n, d)) if !n.is_empty() && !n.contains('/') => (Some(n), d),
            _ => (None, ad.as_str()),
        };
        let spec = match name {
            Some(n) => specs.iter_mut().find(|s| s.name == n),
            None if specs.len() == 1 => specs.first_mut(),
            None => None,
        };
        let Some(spec) = spec else {
            anyhow::bail!(
                "--adapter {ad}: name the model it is for (NAME=DIR, NAME one of the --model names)"
            );
        };
        spec.adapter = Some(dir.into());
    }
    let limits = Limits {
        max_body_bytes: a.max_body_bytes,
        max_tokens: a.max_tokens,
        max_n: a.max_n.max(1),
        body_timeout: Duration::from_secs(a.timeout.max(1)),
        ..Limits::default()
    };
    let sched = SchedulerOptions {
        max_batch: a.max_batch.max(1),
        max_queue: a.max_queue,
        prefill_chunk: a.prefill_chunk.max(1),
        max_queue_wait: queue_wait(a.max_queue_wait)?,
    };
    let state = AppState::load(
        &specs,
        sched,
        limits,
        a.api_key.clone().filter(|k| !k.is_empty()),
    )
    .map_err(|e| anyhow!(e))?
    .with_browse(&a.browse)
    .and_then(|s| s.with_runs(a.runs.as_deref()))
    .map_err(|e| anyhow!(e))?;
    let state = Arc::new(state);
    let addr: SocketAddr = format!("{}:{}", a.host, a.port)
        .parse()
        .with_context(|| format!("--host {} --port {} is not an address", a.host, a.port))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let options = ServerOptions {
        header_timeout: Duration::from_secs(a.timeout.max(1)),
        shutdown_grace: Duration::from_secs(a.shutdown_grace),
    };
    let names = state.names().join(", ");
    let app = glassbox_serve::routes::app(state.clone());
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        println!(
            "glassbox serve: listening on http://{local} (models: {names}){}",
            if a.api_key.is_some() {
                "; API key required"
            } else {
                ""
            }
        );
        let _ = std::io::stdout().flush();
        let st = state.clone();
        let shutdown = async move {
            wait_for_signal().await;
            eprintln!("glassbox serve: shutting down; finishing in-flight requests");
            st.stop_accepting();
        };
        server::serve(listener, app, options, shutdown).await?;
        Ok::<(), anyhow::Error>(())
    })?;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
