//! `glassbox serve`: an OpenAI-compatible HTTP server over any model glassbox loads.
//!
//! - [`state::AppState`]: the models (each an [`glassbox_infer::Engine`] with its
//!   continuous-batching [`glassbox_infer::scheduler::Scheduler`]), limits, API key, metrics.
//! - [`routes::app`]: the axum router — `/v1/models`, `/v1/completions` (echo with prompt
//!   log-probabilities, as evaluation harnesses need), `/v1/chat/completions` (server-sent
//!   events when streaming), `/tokenize`, `/detokenize`, `/tokenizer_info`, `/health`,
//!   `/metrics` — with OpenAI-style errors ([`error::ApiError`]).
//! - [`server::serve`]: the accept loop with header timeouts and graceful shutdown.
//! - `ui`: the web pages, embedded in the binary: the playground at `/` (chat and completion
//!   with streamed output, token probabilities, the exact request as `curl` and Python) and the
//!   openness report at `/audit` (glassbox-audit's HTML page, evidence opening `/ui/file`).
//!
//! ```no_run
//! use std::sync::Arc;
//! use glassbox_serve::{routes, server, state};
//! # async fn run() -> std::io::Result<()> {
//! let specs = [state::ModelSpec::parse("SmolLM2-135M-Instruct")];
//! let st = state::AppState::load(&specs, Default::default(), Default::default(), None)
//!     .map_err(std::io::Error::other)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! server::serve(listener, routes::app(Arc::new(st)), Default::default(), std::future::pending()).await
//! # }
//! ```

pub mod error;
pub mod metrics;
mod params;
pub mod routes;
pub mod server;
pub mod state;
mod ui;
