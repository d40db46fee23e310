//! The HTTP API through axum's `oneshot`: endpoints, OpenAI-shaped answers, prompt
//! log-probabilities equal to `glassbox score`'s (the lm-evaluation-harness `local-completions`
//! request), determinism under load, the bounded queue, and every kind of bad input.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use glassbox_infer::scheduler::SchedulerOptions;
use glassbox_serve::routes::app;
use glassbox_serve::state::{AppState, Limits, ModelSpec};
use serde_json::{Value, json};
use tower::ServiceExt;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/models")
        .join(name)
}

fn state_with(sched: SchedulerOptions, limits: Limits, key: Option<&str>) -> Arc<AppState> {
    let specs = [
        ModelSpec {
            name: "llama".into(),
            dir: fixture("llama"),
            adapter: None,
        },
        ModelSpec {
            name: "qwen2".into(),
            dir: fixture("qwen2"),
            adapter: None,
        },
    ];
    Arc::new(AppState::load(&specs, sched, limits, key.map(str::to_string)).unwrap())
}

fn server() -> (Router, Arc<AppState>) {
    let s = state_with(SchedulerOptions::default(), Limits::default(), None);
    (app(s.clone()), s)
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    body: Option<&str>,
    key: Option<&str>,
) -> (StatusCode, String, axum::http::HeaderMap) {
    let mut r = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if let Some(k) = key {
        r = r.header("authorization", format!("Bearer {k}"));
    }
    let req = r
        .body(body.map_or(Body::empty(), |b| Body::from(b.to_string())))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), 64 << 20)
        .await
        .unwrap();
    (
        status,
        String::from_utf8_lossy(&bytes).into_owned(),
        headers,
    )
}

async fn post(app: &Router, uri: &str, body: Value) -> (StatusCode, Value) {
    let (s, text, _) = call(app, "POST", uri, Some(&body.to_string()), None).await;
    (
        s,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_health_metrics_and_the_api_key() {
    let s = state_with(
        SchedulerOptions::default(),
        Limits::default(),
        Some("sekrit"),
    );
    let a = app(s);
    let (st, body, _) = call(&a, "GET", "/health", None, None).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let (st, body, _) = call(&a, "GET", "/v1/models", None, None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["type"], "authentication_error");
    // The web page and its files need no key (they hold no data) and allow nothing foreign.
    for (path, kind) in [
        ("/", "text/html"),
        ("/ui/playground.js", "text/javascript"),
        ("/ui/style.css", "text/css"),
    ] {
        let (st, body, h) = call(&a, "GET", path, None, None).await;
        assert_eq!(st, StatusCode::OK, "{path}");
        assert!(
            h["content-type"].to_str().unwrap().starts_with(kind),
            "{path}"
        );
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'self'")
        );
        assert!(!body.is_empty());
    }
    let (st, _, _) = call(&a, "GET", "/ui/other.js", None, None).await;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "only the pages themselves are open"
    );
    let (st, _, _) = call(&a, "GET", "/v1/models", None, Some("wrong")).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, body, _) = call(&a, "GET", "/v1/models", None, Some("sekrit")).await;
    assert_eq!(st, StatusCode::OK);
    let v: Value = serde_json::from_str(&body).unwrap();
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["llama", "qwen2"]);
    let (st, body, h) = call(&a, "GET", "/metrics", None, Some("sekrit")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    for name in [
        "glassbox_requests_total{endpoint=\"/v1/models\",status=\"401\"} 2",
        "glassbox_queue_depth 0",
        "glassbox_request_duration_seconds_bucket",
        "glassbox_time_to_first_token_seconds_count",
    ] {
        assert!(body.contains(name), "{name} missing:\n{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echoed_prompt_logprobs_are_glassbox_score_exactly() {
    let (a, s) = server();
    let engine = s.models[0].engine.clone();
    let ids = engine
        .tokenizer
        .encode(
            "In the beginning God created the heavens and the earth",
            true,
        )
        .unwrap();
    let want = engine.score(&ids, 1).unwrap();
    // What lm-evaluation-harness's `local-completions` sends for a log-likelihood request.
    for max_tokens in [0, 1] {
        let (st, v) = post(&a, "/v1/completions", json!({"model": "llama", "prompt": [ids.clone()], "max_tokens": max_tokens, "temperature": 0.0, "logprobs": 1, "seed": 1234, "echo": true})).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let lp = &v["choices"][0]["logprobs"];
        let got = lp["token_logprobs"].as_array().unwrap();
        assert_eq!(got.len(), ids.len() + max_tokens);
        assert!(got[0].is_null());
        for (i, w) in want.iter().enumerate().skip(1) {
            assert_eq!(got[i].as_f64(), w.logprob, "position {i}");
            // is_greedy, as the harness computes it: the top alternative is the token itself.
            let top = lp["top_logprobs"][i].as_object().unwrap();
            let (best, _) = top
                .iter()
                .max_by(|x, y| x.1.as_f64().unwrap().total_cmp(&y.1.as_f64().unwrap()))
                .unwrap();
            assert_eq!(
                best == &lp["tokens"][i].as_str().unwrap().to_string(),
                w.greedy.unwrap(),
                "position {i}"
            );
        }
        assert_eq!(v["usage"]["prompt_tokens"], ids.len());
        assert_eq!(v["usage"]["completion_tokens"], max_tokens);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_chat_and_tokenizer_endpoints() {
    let (a, _) = server();
    let (st, v) = post(&a, "/v1/completions", json!({"model": "llama", "prompt": ["Hello", "Good morning"], "max_tokens": 5, "n": 2, "seed": 3, "temperature": 0.7})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["object"], "text_completion");
    let ch = v["choices"].as_array().unwrap();
    assert_eq!(ch.len(), 4);
    assert_eq!(ch[3]["index"], 3);
    assert_eq!(v["usage"]["completion_tokens"], 20);
    assert_eq!(ch[0]["finish_reason"], "length");
    // Echo without logprobs returns the prompt as given, then the completion.
    let (_, v) = post(&a, "/v1/completions", json!({"model": "llama", "prompt": "Hello", "max_tokens": 2, "echo": true, "temperature": 0})).await;
    assert!(
        v["choices"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Hello"),
        "{v}"
    );
    // Chat, and the same through the chat template by hand.
    let (st, v) = post(&a, "/v1/chat/completions", json!({"model": "llama", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": [{"type": "text", "text": "Hi"}]}], "max_tokens": 4, "temperature": 0, "logprobs": true, "top_logprobs": 2})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        v["choices"][0]["logprobs"]["content"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        v["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (_, t) = post(&a, "/tokenize", json!({"model": "llama", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]})).await;
    assert_eq!(v["usage"]["prompt_tokens"], t["count"]);
    // Streaming: role first, content deltas, a finish reason, usage, [DONE].
    let (st, text, h) = call(&a, "POST", "/v1/chat/completions", Some(&json!({"model": "qwen2", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 6, "stream": true, "stream_options": {"include_usage": true}, "seed": 1}).to_string()), None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(*data.last().unwrap(), "[DONE]");
    let first: Value = serde_json::from_str(data[0]).unwrap();
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    let usage: Value = serde_json::from_str(data[data.len() - 2]).unwrap();
    assert_eq!(usage["usage"]["completion_tokens"], 6, "{text}");
    assert!(
        data.iter()
            .any(|d| d.contains("\"finish_reason\":\"length\""))
    );
    // Streamed with log-probabilities: each token its own chunk, with the same token, log-prob
    // and alternatives the answer in one piece has.
    let ask = json!({"model": "qwen2", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 6, "temperature": 0, "logprobs": true, "top_logprobs": 3});
    let mut streamed = ask.clone();
    streamed["stream"] = json!(true);
    let (st, text, _) = call(
        &a,
        "POST",
        "/v1/chat/completions",
        Some(&streamed.to_string()),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let chunks: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let from_stream: Vec<Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["logprobs"]["content"].as_array())
        .flat_map(|a| a.iter().cloned())
        .collect();
    let (_, whole) = post(&a, "/v1/chat/completions", ask).await;
    let whole_lps = whole["choices"][0]["logprobs"]["content"]
        .as_array()
        .unwrap();
    assert_eq!(from_stream.len(), 6, "{text}");
    assert_eq!(&from_stream, whole_lps);
    assert!(
        from_stream
            .iter()
            .all(|e| e["top_logprobs"].as_array().unwrap().len() == 3)
    );
    let joined: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(
        joined,
        whole["choices"][0]["message"]["content"].as_str().unwrap()
    );
    // Tokenizer endpoints round-trip.
    let (_, t) = post(
        &a,
        "/tokenize",
        json!({"model": "llama", "prompt": "Hello world", "add_special_tokens": false}),
    )
    .await;
    let (_, d) = post(
        &a,
        "/detokenize",
        json!({"model": "llama", "tokens": t["tokens"]}),
    )
    .await;
    assert_eq!(d["prompt"], "Hello world");
    let (st, info, _) = call(&a, "GET", "/tokenizer_info?model=qwen2", None, None).await;
    assert_eq!(st, StatusCode::OK);
    let info: Value = serde_json::from_str(&info).unwrap();
    assert!(info["vocab_size"].as_u64().unwrap() > 0 && info["chat_template"].is_string());
}

/// One request alone, then the same among 15 others at once: the same tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seeded_and_greedy_requests_are_identical_alone_or_among_sixteen() {
    let (a, _) = server();
    let probes = [
        json!({"model": "llama", "prompt": "Once upon a time", "max_tokens": 24, "temperature": 0.8, "top_p": 0.9, "seed": 42, "logprobs": 0}),
        json!({"model": "llama", "prompt": "The sea", "max_tokens": 24, "temperature": 0, "logprobs": 0}),
    ];
    let mut alone = Vec::new();
    for p in &probes {
        let (st, v) = post(&a, "/v1/completions", p.clone()).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        alone.push(v["choices"][0].clone());
    }
    let mut tasks = Vec::new();
    for i in 0..16 {
        let body = if i == 3 {
            probes[0].clone()
        } else if i == 11 {
            probes[1].clone()
        } else {
            json!({"model": "llama", "prompt": format!("Prompt number {i} is a bit longer than the others"), "max_tokens": 10 + i, "temperature": 1.0, "seed": i})
        };
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            post(&a, "/v1/completions", body).await
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        let (st, v) = t.await.unwrap();
        assert_eq!(st, StatusCode::OK, "{v}");
        out.push(v["choices"][0].clone());
    }
    assert_eq!(out[3]["text"], alone[0]["text"]);
    assert_eq!(out[3]["logprobs"], alone[0]["logprobs"]);
    assert_eq!(out[11]["text"], alone[1]["text"]);
    assert_eq!(out[11]["logprobs"], alone[1]["logprobs"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_queue_answers_429_with_retry_after() {
    let s = state_with(
        SchedulerOptions {
            max_batch: 1,
            max_queue: 1,
            ..SchedulerOptions::default()
        },
        Limits::default(),
        None,
    );
    let a = app(s);
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            call(&a, "POST", "/v1/completions", Some(&json!({"model": "llama", "prompt": "Long", "max_tokens": 200, "temperature": 0}).to_string()), None).await
        }));
    }
    let mut busy = 0;
    let mut ok = 0;
    for t in tasks {
        let (st, body, h) = t.await.unwrap();
        if st == StatusCode::TOO_MANY_REQUESTS {
            busy += 1;
            assert_eq!(h["retry-after"], "1");
            assert!(body.contains("queue_full"), "{body}");
        } else {
            assert_eq!(st, StatusCode::OK, "{body}");
            ok += 1;
        }
    }
    assert!(busy >= 3 && ok >= 1, "busy {busy}, ok {ok}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_4xx_naming_the_problem() {
    let limits = Limits {
        max_body_bytes: 4096,
        body_timeout: Duration::from_secs(2),
        ..Limits::default()
    };
    let a = app(state_with(SchedulerOptions::default(), limits, None));
    let cases: Vec<(&str, String, StatusCode, &str)> = vec![
        (
            "/v1/completions",
            "{\"prompt\": ".into(),
            StatusCode::BAD_REQUEST,
            "not valid JSON",
        ),
        (
            "/v1/completions",
            "[1, 2]".into(),
            StatusCode::BAD_REQUEST,
            "must be a JSON object",
        ),
        (
            "/v1/completions",
            json!({"model": "llama", "prompt": "x", "max_tokens": "ten"}).to_string(),
            StatusCode::BAD_REQUEST,
            "`max_tokens` must be an integer",
        ),
        (
            "/v1/completions",
            json!({"model": "llama", "prompt": "x", "temperature": "hot"}).to_string(),
            StatusCode::BAD_REQUEST,
            "`temperature` must be a number",
        ),
        (
            "/v1/completions",
            json!({"model": "gpt-4", "prompt": "x"}).to_string(),
            StatusCode::NOT_FOUND,
            "model_not_found",
        ),
        (
            "/v1/completions",
            json!({"prompt": "x"}).to_string(),
            StatusCode::BAD_REQUEST,
            "`model` is required",
        ),
        (
            "/v1/completions",
            json!({"model": "llama", "prompt": ""}).to_string(),
            StatusCode::BAD_REQUEST,
            "the prompt is empty",
        ),
        (
            "/v1/completions",
            json!({"model": "llama", "prompt": []}).to_string(),
            StatusCode::BAD_REQUEST,
            "the prompt is empty",
        ),
        (
            "/v1/completions",
            json!({"model": "llama", "prompt": {"a": 1}}).to_string(),
            StatusCode::BAD_REQUEST,
            "`prompt` must be",
        ),
        (
            "/v1/completions",
            json!({"model": "llama", "prompt": vec![5; 300]}).to_string(),
            StatusCode::BAD_REQUEST,
            "context_length_exceeded",
        ),
        (
            "/v1/completions",
            json!({"model": "llama", "prompt": vec![5; 200], "max_tokens": 100}).to_string(),
            StatusCode::BAD_REQUEST,
            "plus max_tokens (100) exceeds",
        ),
        (
            "/v1/completions",
            json!({"model": "llama", "prompt": [999999]}).to_string(),
            StatusCode::BAD_REQUEST,
            "outside the model's vocabulary",
        ),
        (
            "/v1/completions",
            json!({"model": "llama", "prompt": "x", "n": 0}).to_string(),
            StatusCode::BAD_REQUEST,
            "`n` = 0 is out of range",
        ),
        (
            "/v1/completions",
            json!({"model": "llama", "prompt": "x", "n": 17}).to_string(),
            StatusCode::BAD_REQUEST,
            "`n` = 17 is out of range",
        ),
        (
            "/v1/completions",
            json!({"model": "llama", "prompt": "x", "max_tokens": -1}).to_string(),
            StatusCode::BAD_REQUEST,
            "`max_tokens` = -1 is out of range",
        ),
        (
            "/v1/completions",
            json!({"model": "llama", "prompt": "x", "max_tokens": 100000}).to_string(),
            StatusCode::BAD_REQUEST,
            "`max_tokens` = 100000 is out of range",
        ),
        (
            "/v1/completions",
            json!({"model": "llama", "prompt": "x", "presence_penalty": 0.5}).to_string(),
            StatusCode::BAD_REQUEST,
            "not supported",
        ),
        (
            "/v1/completions",
            json!({"model": "llama", "prompt": "x", "stop": ["a", "b", "c", "d", "e"]}).to_string(),
            StatusCode::BAD_REQUEST,
            "`stop` must be",
        ),
        (
            "/v1/completions",
            format!(
                "{{\"model\": \"llama\", \"prompt\": \"{}\"}}",
                "a".repeat(5000)
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "limit of 4096 bytes",
        ),
        (
            "/v1/chat/completions",
            json!({"model": "llama", "messages": []}).to_string(),
            StatusCode::BAD_REQUEST,
            "non-empty list",
        ),
        (
            "/v1/chat/completions",
            json!({"model": "llama", "messages": [{"role": "wizard", "content": "x"}]}).to_string(),
            StatusCode::BAD_REQUEST,
            "unknown role",
        ),
        (
            "/v1/chat/completions",
            json!({"model": "llama", "messages": [{"role": "user", "content": 5}]}).to_string(),
            StatusCode::BAD_REQUEST,
            "messages[0].content",
        ),
        (
            "/detokenize",
            json!({"model": "llama", "tokens": [1, "x"]}).to_string(),
            StatusCode::BAD_REQUEST,
            "`tokens` must be",
        ),
        (
            "/v1/nothing",
            "{}".into(),
            StatusCode::NOT_FOUND,
            "no endpoint",
        ),
    ];
    for (uri, body, want, text) in cases {
        let (st, got, _) = call(&a, "POST", uri, Some(&body), None).await;
        assert_eq!(st, want, "{uri} {}: {got}", &body[..body.len().min(80)]);
        let v: Value = serde_json::from_str(&got).unwrap_or_else(|_| panic!("not JSON: {got}"));
        assert!(v["error"]["message"].is_string(), "{got}");
        assert!(got.contains(text), "{uri}: want {text:?} in {got}");
    }
    // The server still serves after all that.
    let (st, _, _) = call(
        &a,
        "POST",
        "/v1/completions",
        Some(&json!({"model": "llama", "prompt": "ok", "max_tokens": 2}).to_string()),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
}
