//! Regression tests for the server under failure and load: prompt scoring behind the bounded
//! queue, panics in model code answered with 500 while the server keeps serving, a dead
//! scheduler answered promptly, stream latency measured to the stream's end, and error bodies
//! that name the model, never its directory. Faults come from
//! `glassbox_infer::scheduler::fault` (feature `fault-injection`, enabled for tests only).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use glassbox_infer::scheduler::SchedulerOptions;
use glassbox_infer::scheduler::fault::{
    KILL_SCHEDULER, PANIC_IN_DECODE, PANIC_IN_PREFILL, SLOW_DECODE,
};
use glassbox_serve::routes::app;
use glassbox_serve::state::{AppState, Limits, ModelSpec};
use serde_json::{Value, json};
use tower::ServiceExt;

/// Longer than any answer here takes; a request that needs it hangs.
const PATIENCE: Duration = Duration::from_secs(30);

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/models")
        .join(name)
}

fn state(name: &str, dir: &Path, sched: SchedulerOptions) -> Arc<AppState> {
    let specs = [ModelSpec {
        name: name.into(),
        dir: dir.to_path_buf(),
        adapter: None,
    }];
    Arc::new(AppState::load(&specs, sched, Limits::default(), None).unwrap())
}

fn request(uri: &str, body: &Value) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// Status, body text and `Retry-After`, within [`PATIENCE`].
async fn post(a: &Router, uri: &str, body: Value) -> (StatusCode, String, Option<String>) {
    tokio::time::timeout(PATIENCE, async {
        let res = a.clone().oneshot(request(uri, &body)).await.unwrap();
        let status = res.status();
        let retry = res
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = axum::body::to_bytes(res.into_body(), 64 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned(), retry)
    })
    .await
    .unwrap_or_else(|_| panic!("{uri} {body} hangs"))
}

async fn metrics(a: &Router) -> String {
    let req = Request::builder()
        .uri("/metrics")
        .body(Body::empty())
        .unwrap();
    let res = a.clone().oneshot(req).await.unwrap();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Polls `f` until it holds.
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < PATIENCE, "never: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Regression: echoed prompts were scored in `spawn_blocking` before admission, so any number
/// of them ran at once and a full queue only refused them after the work was done.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn echo_scoring_waits_in_the_bounded_queue() {
    let s = state(
        "llama",
        &fixture("llama"),
        SchedulerOptions {
            max_batch: 1,
            max_queue: 1,
            ..SchedulerOptions::default()
        },
    );
    let a = app(s.clone());
    let stats = || s.models[0].scheduler.stats();
    // A long generation (10 ms a token) takes the only slot.
    let long = {
        let a = a.clone();
        let slow = [&SLOW_DECODE[..], &[7, 8, 9]].concat();
        tokio::spawn(async move {
            post(
                &a,
                "/v1/completions",
                json!({"prompt": [slow], "max_tokens": 100, "temperature": 0}),
            )
            .await
        })
    };
    until("the long request runs", || {
        stats().active.load(Ordering::SeqCst) == 1
    })
    .await;
    let ids: Vec<u32> = (0..40).map(|k| (k * 13) % 400 + 5).collect();
    let echo = json!({"prompt": [ids.clone()], "max_tokens": 0, "echo": true, "logprobs": 1});
    let waiting = {
        let (a, echo) = (a.clone(), echo.clone());
        tokio::spawn(async move { post(&a, "/v1/completions", echo).await })
    };
    until("the echo request waits", || {
        stats().queued.load(Ordering::SeqCst) == 1
    })
    .await;
    assert!(metrics(&a).await.contains("glassbox_queue_depth 1"));
    // The queue is full: refused at once, before any scoring.
    let (st, body, retry) = post(&a, "/v1/completions", echo).await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(retry.as_deref(), Some("1"));
    assert!(body.contains("queue_full"), "{body}");
    assert_eq!(stats().scored_prompts.load(Ordering::SeqCst), 0);
    // Once admitted, the waiting one is scored exactly as `glassbox score` scores.
    let (st, body, _) = waiting.await.unwrap();
    assert_eq!(st, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let want = s.models[0].engine.score(&ids, 1).unwrap();
    let got = v["choices"][0]["logprobs"]["token_logprobs"]
        .as_array()
        .unwrap();
    assert_eq!(got.len(), ids.len());
    for (i, w) in want.iter().enumerate() {
        assert_eq!(got[i].as_f64(), w.logprob, "position {i}");
    }
    assert_eq!(stats().scored_prompts.load(Ordering::SeqCst), 1);
    assert_eq!(long.await.unwrap().0, StatusCode::OK);
}

/// Regression: a panic in model code killed the scheduler thread and every request waited
/// forever. Now the request it touched gets a 500 and the next one is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_model_code_is_a_500_and_the_next_request_succeeds() {
    let s = state("llama", &fixture("llama"), SchedulerOptions::default());
    let a = app(s.clone());
    let prompt = |magic: &[u32]| [magic, &[7, 8, 9]].concat();
    let (st, body, _) = post(
        &a,
        "/v1/completions",
        json!({"prompt": [prompt(&PANIC_IN_PREFILL)], "max_tokens": 4}),
    )
    .await;
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["type"], "server_error", "{body}");
    assert_eq!(v["error"]["code"], "generation_failed", "{body}");
    assert!(!body.contains("injected"), "internals leaked: {body}");
    // Mid-stream: the stream ends with an error object instead of hanging.
    let (st, body, _) = post(
        &a,
        "/v1/completions",
        json!({"prompt": [prompt(&PANIC_IN_DECODE)], "max_tokens": 8, "stream": true}),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert!(body.contains("\"generation_failed\""), "{body}");
    assert!(!body.contains("finish_reason\":\"length"), "{body}");
    // Greedy, so the answer is the same every run (a sampled one may end early on EOS).
    for body in [
        json!({"prompt": "Hello", "max_tokens": 4, "temperature": 0}),
        json!({"prompt": "Hello", "max_tokens": 4, "temperature": 0, "stream": true}),
    ] {
        let (st, text, _) = post(&a, "/v1/completions", body).await;
        assert_eq!(st, StatusCode::OK, "{text}");
        assert!(text.contains("\"length\""), "{text}");
    }
    let m = metrics(&a).await;
    assert!(m.contains("glassbox_model_panics_total 2"), "{m}");
    assert!(m.contains("glassbox_dead_schedulers 0"), "{m}");
}

/// If the scheduler thread dies anyway, its requests fail at once and later ones get 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_scheduler_answers_promptly_and_never_hangs() {
    let s = state("llama", &fixture("llama"), SchedulerOptions::default());
    let a = app(s.clone());
    let kill: Vec<u32> = [&KILL_SCHEDULER[..], &[7, 8, 9]].concat();
    let (st, body, _) = post(
        &a,
        "/v1/completions",
        json!({"prompt": [kill], "max_tokens": 4}),
    )
    .await;
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    // A request racing the thread's last moments may still be failed by it (500); from then on
    // every request is refused at once (503).
    let mut refused = 0;
    for i in 0..200 {
        let body = json!({"prompt": "Hello", "max_tokens": 4, "stream": i % 2 == 1});
        let (st, body, _) = post(&a, "/v1/completions", body).await;
        if st == StatusCode::SERVICE_UNAVAILABLE {
            assert!(
                body.contains("model_unavailable") && body.contains("`llama`"),
                "{body}"
            );
            refused += 1;
            if refused == 2 {
                break;
            }
        } else {
            assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
            assert_eq!(refused, 0, "a 500 after a 503: {body}");
        }
    }
    assert_eq!(refused, 2);
    assert!(metrics(&a).await.contains("glassbox_dead_schedulers 1"));
}

fn duration_count(metrics: &str, endpoint: &str) -> u64 {
    let key = format!("glassbox_request_duration_seconds_count{{endpoint=\"{endpoint}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&key))
        .map_or(0, |n| n.parse().unwrap())
}

fn duration_sum(metrics: &str, endpoint: &str) -> f64 {
    let key = format!("glassbox_request_duration_seconds_sum{{endpoint=\"{endpoint}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&key))
        .map_or(0.0, |n| n.parse().unwrap())
}

/// Regression: a stream's latency was recorded when its handler returned the headers. Now it
/// is recorded when the stream ends, or when the client goes away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_latency_is_recorded_when_the_stream_ends() {
    let s = state("llama", &fixture("llama"), SchedulerOptions::default());
    let a = app(s.clone());
    let ep = "/v1/chat/completions";
    let body = json!({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 60, "temperature": 0, "stream": true});
    let res = a.clone().oneshot(request(ep, &body)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // The headers are here; the stream is not over.
    assert_eq!(duration_count(&metrics(&a).await, ep), 0);
    let t_headers = Instant::now();
    let text = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let body_time = t_headers.elapsed().as_secs_f64();
    assert!(String::from_utf8_lossy(&text).ends_with("data: [DONE]\n\n"));
    let m = metrics(&a).await;
    assert_eq!(duration_count(&m, ep), 1, "{m}");
    assert!(duration_sum(&m, ep) >= body_time, "{m}");
    // A client that leaves mid-stream ends its request too.
    let res = a.clone().oneshot(request(ep, &body)).await.unwrap();
    drop(res);
    assert_eq!(duration_count(&metrics(&a).await, ep), 2);
}

/// Regression: error bodies carried the server's paths ("/srv/models/x has no chat template").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_model_not_its_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("secret-location");
    std::fs::create_dir(&dir).unwrap();
    for entry in std::fs::read_dir(fixture("llama")).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name().unwrap() != "chat_template.jinja" {
            std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
        }
    }
    let s = state("tiny-plain", &dir, SchedulerOptions::default());
    let a = app(s);
    let messages = json!([{"role": "user", "content": "Hi"}]);
    for (uri, body) in [
        (
            "/v1/chat/completions",
            json!({"messages": messages, "max_tokens": 2}),
        ),
        ("/tokenize", json!({"messages": messages})),
    ] {
        let (st, body, _) = post(&a, uri, body).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{uri}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("`tiny-plain`") && msg.contains("no chat template"),
            "{uri}: {body}"
        );
        assert_eq!(v["error"]["code"], "no_chat_template");
        let tmp_path = tmp.path().to_string_lossy();
        assert!(
            !body.contains("secret-location") && !body.contains(tmp_path.as_ref()),
            "{uri}: {body}"
        );
    }
}

/// Regression: admitted requests had no latency bound; under overload one waited as long as the
/// queue took to drain. A request still queued after `max_queue_wait` is now answered 429
/// (`queue_timeout`) when its turn comes, streams included (before any byte of the stream), and
/// the next request runs normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_that_waited_past_the_queue_limit_is_a_429_not_a_late_answer() {
    let s = state(
        "llama",
        &fixture("llama"),
        SchedulerOptions {
            max_batch: 1,
            max_queue: 4,
            max_queue_wait: Some(Duration::from_millis(100)),
            ..SchedulerOptions::default()
        },
    );
    let a = app(s.clone());
    let stats = || s.models[0].scheduler.stats();
    // A slow generation (10 ms a token, 40 tokens) holds the only slot for ~400 ms.
    let slow = [&SLOW_DECODE[..], &[7, 8, 9]].concat();
    let long = {
        let a = a.clone();
        let slow = slow.clone();
        tokio::spawn(async move {
            post(
                &a,
                "/v1/completions",
                json!({"prompt": [slow], "max_tokens": 40, "temperature": 0}),
            )
            .await
        })
    };
    until("the long request runs", || {
        stats().active.load(Ordering::SeqCst) == 1
    })
    .await;
    let plain = {
        let a = a.clone();
        tokio::spawn(async move {
            post(
                &a,
                "/v1/completions",
                json!({"prompt": "Hello", "max_tokens": 2}),
            )
            .await
        })
    };
    let streamed = {
        let a = a.clone();
        tokio::spawn(async move {
            post(
                &a,
                "/v1/chat/completions",
                json!({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2, "stream": true}),
            )
            .await
        })
    };
    for (what, r) in [("plain", plain), ("stream", streamed)] {
        let (st, body, retry) = r.await.unwrap();
        assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "{what}: {body}");
        assert_eq!(retry.as_deref(), Some("1"), "{what}");
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{what}: {body}"));
        assert_eq!(v["error"]["code"], "queue_timeout", "{what}: {body}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("waited"),
            "{body}"
        );
    }
    let (st, body, _) = long.await.unwrap();
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(stats().expired.load(Ordering::SeqCst), 2);
    assert!(metrics(&a).await.contains("glassbox_queue_expired_total 2"));
    // The queue is empty again: the next request runs.
    let (st, body, _) = post(
        &a,
        "/v1/completions",
        json!({"prompt": "Hello", "max_tokens": 2}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
}
