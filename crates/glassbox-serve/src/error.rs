//! OpenAI-style errors: `{"error": {"message", "type", "param", "code"}}` with the right status.
//! Internal failures are logged on the server and answered with a generic message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use glassbox_infer::InferError;
use serde_json::json;

/// An error answered to a client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// What went wrong, for the client.
    pub message: String,
    /// OpenAI's `type` (`invalid_request_error`, `authentication_error`, …).
    pub kind: &'static str,
    /// The request field at fault, when one is.
    pub param: Option<String>,
    /// A short code (`model_not_found`, `context_length_exceeded`, …).
    pub code: Option<&'static str>,
    /// Seconds to wait before retrying (429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// 400 naming the field.
    pub fn invalid(param: impl Into<Option<String>>, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param: param.into(),
            code: None,
            retry_after: None,
        }
    }

    /// Sets the code.
    pub fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// Sets the status.
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// 404 for an unknown model.
    pub fn unknown_model(name: &str, known: &[String]) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: format!(
                "The model `{name}` does not exist; this server has: {}",
                known.join(", ")
            ),
            kind: "invalid_request_error",
            param: Some("model".into()),
            code: Some("model_not_found"),
            retry_after: None,
        }
    }

    /// 429 with `Retry-After`.
    pub fn busy() -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: "the server's queue is full; retry later".into(),
            kind: "rate_limit_error",
            param: None,
            code: Some("queue_full"),
            retry_after: Some(1),
        }
    }

    /// 429 for a request that waited in the queue past the server's limit without starting.
    pub fn queue_timeout(waited: std::time::Duration) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: format!(
                "the request waited {:.1} s in the server's queue without starting; retry later",
                waited.as_secs_f64()
            ),
            kind: "rate_limit_error",
            param: None,
            code: Some("queue_timeout"),
            retry_after: Some(1),
        }
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            message: "missing or wrong API key: send `Authorization: Bearer KEY`".into(),
            kind: "authentication_error",
            param: None,
            code: Some("invalid_api_key"),
            retry_after: None,
        }
    }

    /// 500 whose details stay in the server log.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        eprintln!("glassbox serve: internal error: {detail}");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "the server failed to process the request".into(),
            kind: "server_error",
            param: None,
            code: None,
            retry_after: None,
        }
    }

    /// 500 for a generation that failed in the model (logged where it failed).
    pub fn generation_failed() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "the model failed while generating; the request was not completed".into(),
            kind: "server_error",
            param: None,
            code: Some("generation_failed"),
            retry_after: None,
        }
    }

    /// 503 for a model whose scheduler died: nothing more will run on it until a restart.
    pub fn unavailable(model: &str) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: format!(
                "the model `{model}` is unavailable after an internal error; restart the server"
            ),
            kind: "server_error",
            param: Some("model".into()),
            code: Some("model_unavailable"),
            retry_after: None,
        }
    }

    /// An error of the inference library about the model served as `model`: request errors
    /// are 400s, anything else a 500. Messages name the model, never its directory; the full
    /// error goes to the server log.
    pub fn from_infer(model: &str, param: &str, e: &InferError) -> Self {
        match e {
            InferError::NoChatTemplate { .. } => {
                eprintln!("glassbox serve: model `{model}`: {e}");
                Self::invalid(
                    Some(param.to_string()),
                    format!(
                        "the model `{model}` has no chat template; use /v1/completions with a plain prompt"
                    ),
                )
                .code("no_chat_template")
            }
            // The template's own message (`raise_exception`) and its file name, no path.
            InferError::Template { .. } | InferError::Input(_) => {
                Self::invalid(Some(param.to_string()), e.to_string())
            }
            _ => Self::internal(format_args!("model `{model}`: {e}")),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(self.body())).into_response();
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}
