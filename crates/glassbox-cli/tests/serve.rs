//! `glassbox serve` as a real process on loopback: the official `openai` Python client, a client
//! that sends half a body and stalls, 1000 connections that never send, and graceful shutdown
//! with a stream in flight.

#![allow(clippy::unwrap_used)]

#[path = "support/server.rs"]
mod server;
use server::{http, repo, start, stop};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn the_official_openai_client_works_against_it() {
    let pydeps = std::env::var_os("GLASSBOX_PYDEPS")
        .map_or_else(|| repo().join("target/pydeps"), PathBuf::from);
    let probe = Command::new("python3")
        .args(["-c", "import openai"])
        .env("PYTHONPATH", &pydeps)
        .status();
    assert!(
        probe.is_ok_and(|s| s.success()),
        "the openai Python package is not importable from {}: run scripts/dev-setup.sh (it installs it there)",
        pydeps.display()
    );
    let (c, port) = start(&["--api-key", "test-key"]);
    let o = Command::new("python3")
        .arg(repo().join("tests/serve/openai_client.py"))
        .arg(format!("http://127.0.0.1:{port}"))
        .arg("test-key")
        .env("PYTHONPATH", &pydeps)
        .output()
        .unwrap();
    stop(c);
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.status.success() && text.contains("all checks passed"),
        "{text}"
    );
}

#[test]
fn stalled_bodies_and_idle_connections_time_out_while_others_are_served() {
    let (c, port) = start(&[]);
    // Half a body, then nothing: 408 after the 1 s body timeout.
    let mut half = TcpStream::connect(("127.0.0.1", port)).unwrap();
    half.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(half, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"prompt\"").unwrap();
    // 1000 connections that open and never send.
    let idle: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    // Others are served meanwhile.
    let (status, body) = http(
        port,
        "POST",
        "/v1/completions",
        r#"{"model": "llama", "prompt": "Hi", "max_tokens": 3}"#,
        None,
    );
    assert!(status.contains("200"), "{status} {body}");
    let mut text = String::new();
    let _ = half.read_to_string(&mut text);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("did not arrive within 1 s"), "{text}");
    // The idle connections are closed by the 1 s header timeout.
    std::thread::sleep(Duration::from_millis(1500));
    let mut closed = 0;
    for mut s in idle {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 512];
        if s.read(&mut buf).is_ok() {
            closed += 1;
        }
    }
    assert_eq!(closed, 1000);
    let (status, _) = http(port, "GET", "/health", "", None);
    assert!(status.contains("200"), "{status}");
    stop(c);
}

#[test]
fn shutdown_finishes_the_stream_in_flight_then_exits() {
    let (mut c, port) = start(&[]);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // The Qwen2 fixture does not meet its EOS within 200 greedy tokens from this prompt, so all
    // 200 must arrive although SIGTERM comes after the first.
    let body = r#"{"model": "qwen2", "prompt": "Tell me", "max_tokens": 200, "stream": true, "temperature": 0}"#;
    write!(s, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    while !line.starts_with("data: ") {
        line.clear();
        r.read_line(&mut line).unwrap();
    }
    let _ = Command::new("kill")
        .args(["-TERM", &c.id().to_string()])
        .status();
    let mut rest = String::new();
    let _ = r.read_to_string(&mut rest);
    assert!(rest.contains("data: [DONE]"), "the stream was cut: {rest}");
    assert!(rest.contains("\"finish_reason\":\"length\""), "{rest}");
    let tokens = 1 + rest.matches("\"finish_reason\":null").count();
    assert_eq!(tokens, 200, "{rest}");
    let t = Instant::now();
    let status = loop {
        if let Some(st) = c.try_wait().unwrap() {
            break st;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the server did not exit"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "still listening after shutdown"
    );
}

#[test]
fn bench_serve_overload_answers_only_200_or_429_and_leaves_nothing_stuck() {
    let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args([
            "bench",
            "serve",
            "--tiny",
            "--overload",
            "3",
            "--max-batch",
            "2",
            "--max-queue",
            "2",
            "--max-tokens",
            "8",
            "--grace",
            "20",
            "--stall-prompt-tokens",
            "600",
            "--json",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let o = &v["overload"];
    assert_eq!(v["clients"], 8, "{v}");
    let statuses: Vec<&String> = o["status"].as_object().unwrap().keys().collect();
    assert!(
        statuses.iter().all(|s| *s == "200" || *s == "429"),
        "{statuses:?}"
    );
    assert!(o["status"]["200"].as_u64().unwrap() > 0, "{o}");
    assert_eq!(o["stuck"], 0, "{o}");
    assert_eq!(o["failures"], serde_json::json!({}), "{o}");
    assert_eq!(v["pass"], true);
    for kind in ["completion", "stream", "echo", "chat", "disconnect"] {
        let k = o["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kind"] == kind)
            .unwrap();
        assert!(k["requests"].as_u64().unwrap() > 0, "{kind}: {k}");
    }
    let stall = v["stall"].as_array().unwrap();
    assert_eq!(stall.len(), 2);
    for s in stall {
        assert!(s["longest_gap_seconds"].as_f64().unwrap() > 0.0, "{s}");
    }
}
