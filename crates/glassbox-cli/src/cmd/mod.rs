//! One module per verb.

pub(crate) mod audit;
pub(crate) mod bench;
pub(crate) mod bench_eval;
pub(crate) mod bench_generate;
pub(crate) mod bench_load;
pub(crate) mod bench_overload;
pub(crate) mod bench_serve;
pub(crate) mod chat;
pub(crate) mod checkpoints;
pub(crate) mod common;
pub(crate) mod convert;
pub(crate) mod convert_gguf;
pub(crate) mod convert_ollama;
pub(crate) mod data;
pub(crate) mod data_chat;
pub(crate) mod eval;
pub(crate) mod generate;
pub(crate) mod merge;
pub(crate) mod quickstart;
pub(crate) mod quickstart_adapt;
pub(crate) mod release;
pub(crate) mod resize_vocab;
pub(crate) mod score;
pub(crate) mod serve;
pub(crate) mod train;
pub(crate) mod ui;
