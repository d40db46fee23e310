//! `POST /tokenize`, `POST /detokenize`, `GET /tokenizer_info`.

use axum::extract::{Query, Request, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::ApiError;

use super::chat::{messages, render_chat};
use super::{Shared, read_body};

pub(super) async fn tokenize(State(s): State<Shared>, req: Request) -> Result<Response, ApiError> {
    let b = read_body(&s, req.into_body()).await?;
    let model = s.model(b.str("model")?)?;
    let m = &*model;
    let ids = if b.get("messages").is_some() {
        let msgs = messages(&b)?;
        render_chat(m, &msgs, b.bool("add_generation_prompt")?.unwrap_or(true))?
    } else {
        let text = b.str("prompt")?.ok_or_else(|| {
            ApiError::invalid(
                Some("prompt".into()),
                "give `prompt` (a string) or `messages`",
            )
        })?;
        let special = b.bool("add_special_tokens")?.unwrap_or(true);
        m.engine
            .tokenizer
            .encode(text, special)
            .map_err(ApiError::internal)?
    };
    Ok(axum::Json(json!({"tokens": ids, "count": ids.len(), "max_model_len": m.engine.model.config().max_position_embeddings})).into_response())
}

pub(super) async fn detokenize(
    State(s): State<Shared>,
    req: Request,
) -> Result<Response, ApiError> {
    let b = read_body(&s, req.into_body()).await?;
    let model = s.model(b.str("model")?)?;
    let m = &*model;
    let bad = || {
        ApiError::invalid(
            Some("tokens".into()),
            "`tokens` must be a list of token ids",
        )
    };
    let ids: Vec<u32> = b
        .get("tokens")
        .and_then(Value::as_array)
        .ok_or_else(bad)?
        .iter()
        .map(|v| {
            v.as_u64()
                .filter(|&x| x <= u64::from(u32::MAX))
                .map(|x| x as u32)
                .ok_or_else(bad)
        })
        .collect::<Result<_, _>>()?;
    let vocab = m.engine.model.config().vocab_size;
    if let Some(&x) = ids.iter().find(|&&t| t as usize >= vocab) {
        return Err(ApiError::invalid(
            Some("tokens".into()),
            format!("token id {x} is outside the vocabulary ({vocab})"),
        ));
    }
    let text = m
        .engine
        .tokenizer
        .decode(&ids, false)
        .map_err(ApiError::internal)?;
    Ok(axum::Json(json!({"prompt": text})).into_response())
}

pub(super) async fn tokenizer_info(
    State(s): State<Shared>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    _h: HeaderMap,
) -> Result<Response, ApiError> {
    let model = s.model(q.get("model").map(String::as_str))?;
    let m = &*model;
    let t = &m.engine.tokenizer;
    Ok(axum::Json(json!({
        "model": m.name,
        "vocab_size": m.engine.model.config().vocab_size,
        "max_model_len": m.engine.model.config().max_position_embeddings,
        "bos_token": t.bos_token, "eos_token": t.eos_token, "pad_token": t.pad_token,
        "eos_token_ids": m.engine.generation.eos_token_ids,
        "chat_template": t.chat_template.as_ref().map(|(src, _)| src.clone()),
    }))
    .into_response())
}
