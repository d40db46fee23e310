//! Instruction-tuning examples: conversations in the OpenAI `messages` shape rendered with the
//! model's chat template, tokenised, and marked token by token as assistant or not, so training
//! puts its loss on what the assistant says only.
//!
//! **Which tokens are the assistant's.** For assistant message `i`, the template renders the
//! conversation up to `i` with the generation prompt (`before`) and the conversation through `i`
//! without it (`through`); the bytes between the two lengths are the assistant's turn as the
//! template writes it — its content and whatever the template puts after it (`<|im_end|>`, the
//! end-of-sequence token), so the model learns to stop. The whole conversation's rendering must
//! begin with `through`, and `through` with `before`; a template that rewrites earlier turns
//! when later ones follow is refused for that example, naming it. A token is the assistant's
//! when its first byte lies in such a span (a token that straddles the span's start belongs to
//! the prompt; one that straddles its end, to the assistant).

use serde_json::Value;

use crate::chat::ChatTemplate;
use crate::tokenizer::TextTokenizer;
use crate::{InferError, Result};

/// Roles a message may have.
pub const ROLES: [&str; 4] = ["system", "user", "assistant", "tool"];

/// One conversation of a chat JSONL file.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatExample {
    /// 1-based line of the file it came from.
    pub line: usize,
    /// The messages, the optional `system` field first.
    pub messages: Vec<Value>,
}

/// A rendered, tokenised conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The template's text of the whole conversation.
    pub text: String,
    /// Its token ids (no special tokens added beyond what the template writes).
    pub ids: Vec<u32>,
    /// Per token: whether it is the assistant's (trained on).
    pub assistant: Vec<bool>,
    /// Byte ranges of `text` that are assistant turns.
    pub spans: Vec<(usize, usize)>,
}

fn data_error(source: &str, line: usize, message: impl Into<String>) -> InferError {
    InferError::ChatData {
        file: source.to_string(),
        line,
        message: message.into(),
    }
}

/// Parses line `line` (1-based) of the chat file `source`: an object with `messages` (each with
/// a known `role` and a string `content`, or a list of `{"type": "text", "text": …}` parts) and
/// an optional `system` string. Blank lines give `None`.
pub fn parse_line(source: &str, line: usize, text: &str) -> Result<Option<ChatExample>> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let err = |m: String| data_error(source, line, m);
    let v: Value = serde_json::from_str(text).map_err(|e| err(format!("not JSON: {e}")))?;
    let Some(obj) = v.as_object() else {
        return Err(err("expected an object with `messages`".into()));
    };
    for k in obj.keys() {
        if !["messages", "system", "id"].contains(&k.as_str()) {
            return Err(err(format!(
                "unknown field `{k}` (expected `messages`, optional `system` and `id`)"
            )));
        }
    }
    let Some(list) = obj.get("messages").and_then(Value::as_array) else {
        return Err(err("`messages` is missing or not a list".into()));
    };
    let mut messages = Vec::with_capacity(list.len() + 1);
    match obj.get("system") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            messages.push(serde_json::json!({"role": "system", "content": s}));
        }
        Some(_) => return Err(err("`system` must be a string".into())),
    }
    for (i, m) in list.iter().enumerate() {
        let Some(role) = m.get("role").and_then(Value::as_str) else {
            return Err(err(format!("message {i} has no string `role`")));
        };
        if !ROLES.contains(&role) {
            return Err(err(format!(
                "message {i} has unknown role `{role}` (expected one of {})",
                ROLES.join(", ")
            )));
        }
        let content = match m.get("content") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => {
                let mut s = String::new();
                for (j, p) in parts.iter().enumerate() {
                    match (p.get("type").and_then(Value::as_str), p.get("text")) {
                        (Some("text"), Some(Value::String(t))) => s.push_str(t),
                        _ => {
                            return Err(err(format!(
                                "message {i}, content part {j}: only {{\"type\": \"text\", \"text\": …}} parts are supported"
                            )));
                        }
                    }
                }
                s
            }
            _ => return Err(err(format!("message {i} has no string `content`"))),
        };
        let mut out = m.clone();
        if let Some(o) = out.as_object_mut() {
            o.insert("content".into(), Value::String(content));
        }
        messages.push(out);
    }
    if !messages.iter().any(|m| m["role"] == "assistant") {
        return Err(err(
            "no assistant turn: there is nothing to train on (every example needs one)".into(),
        ));
    }
    Ok(Some(ChatExample { line, messages }))
}

/// Renders `example` with `template`, tokenises it with `tokenizer` and marks the assistant's
/// tokens (see the module documentation). `source` names the chat file in errors.
pub fn render_masked(
    template: &ChatTemplate,
    tokenizer: &TextTokenizer,
    example: &ChatExample,
    source: &str,
) -> Result<Rendered> {
    let none = serde_json::Map::new();
    let msgs = &example.messages;
    let wrap = |e: InferError| data_error(source, example.line, e.to_string());
    let text = template.render(msgs, false, &none).map_err(wrap)?;
    let mut spans = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        if m["role"] != "assistant" {
            continue;
        }
        let before = template.render(&msgs[..i], true, &none).map_err(wrap)?;
        let through = template.render(&msgs[..=i], false, &none).map_err(wrap)?;
        if !through.starts_with(&before) || !text.starts_with(&through) {
            return Err(data_error(
                source,
                example.line,
                format!(
                    "the chat template does not render this conversation turn by turn (message {i}: \
                     the text up to it is not a prefix of the whole), so its assistant tokens cannot be told apart"
                ),
            ));
        }
        if through.len() > before.len() {
            spans.push((before.len(), through.len()));
        }
    }
    let enc = glassbox_core::panics::catching(|| tokenizer.inner().encode(text.as_str(), false))
        .map_err(|p| format!("the tokenizers library panicked: {p}"))
        .and_then(|r| r.map_err(|e| e.to_string()))
        .map_err(|e| InferError::Tokenizer {
            path: tokenizer.path().to_path_buf(),
            message: format!("encoding line {} of {source} failed: {e}", example.line),
        })?;
    let ids = enc.get_ids().to_vec();
    let assistant = enc
        .get_offsets()
        .iter()
        .map(|&(start, _)| spans.iter().any(|&(s, e)| start >= s && start < e))
        .collect();
    Ok(Rendered {
        text,
        ids,
        assistant,
        spans,
    })
}
