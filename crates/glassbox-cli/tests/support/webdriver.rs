//! A small W3C WebDriver client for the browser tests: Debian's `chromedriver` driving its
//! headless `chromium` (both installed by `scripts/dev-setup.sh`). Plain HTTP/1.1 over loopback,
//! one connection per command.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// WebDriver's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running `chromedriver` with one browser session; both end on drop.
pub(crate) struct Browser {
    driver: Child,
    port: u16,
    session: String,
}

/// An element of the current page.
#[derive(Clone)]
pub(crate) struct Element(Value);

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// One request to the driver; its JSON `value`, or a panic naming the command and the error.
fn call(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    // The driver may keep the connection open: read the header, then Content-Length bytes
    // (or chunks up to the last one).
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let header_end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!(
                "{method} {path}: the connection closed before a header"
            ));
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..header_end]).to_ascii_lowercase();
    let length = head.lines().find_map(|l| {
        l.strip_prefix("content-length:")
            .and_then(|v| v.trim().parse::<usize>().ok())
    });
    let chunked = head.contains("transfer-encoding: chunked");
    loop {
        let body = &raw[header_end..];
        let complete = match length {
            Some(n) => body.len() >= n,
            None if chunked => body.ends_with(b"0\r\n\r\n"),
            None => false,
        };
        if complete {
            break;
        }
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let rest = String::from_utf8_lossy(&raw[header_end..]).into_owned();
    let payload = if chunked { dechunk(&rest) } else { rest };
    let v: Value =
        serde_json::from_str(&payload).map_err(|e| format!("{method} {path}: {e}: {payload}"))?;
    let value = v.get("value").cloned().unwrap_or(Value::Null);
    if let Some(err) = value.get("error").and_then(Value::as_str) {
        return Err(format!(
            "{method} {path}: {err}: {}",
            value.get("message").and_then(Value::as_str).unwrap_or("")
        ));
    }
    Ok(value)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

impl Browser {
    /// Starts `chromedriver` and a headless Chromium session (1280 × 900). Panics with the way
    /// to install them when they are missing.
    pub(crate) fn start() -> Self {
        let driver = find_program(&["chromedriver"]).unwrap_or_else(|| {
            panic!("chromedriver is missing: run scripts/dev-setup.sh (installs chromium and chromium-driver)")
        });
        let chromium = find_program(&["chromium", "chromium-browser", "google-chrome"])
            .unwrap_or_else(|| panic!("chromium is missing: run scripts/dev-setup.sh"));
        let port = free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let t = Instant::now();
        while call(port, "GET", "/status", None)
            .ok()
            .and_then(|v| v.get("ready").and_then(Value::as_bool))
            != Some(true)
        {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "chromedriver did not become ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900", "--force-device-scale-factor=1"]
            }
        }}});
        let mut b = Browser {
            driver: child,
            port,
            session: String::new(),
        };
        let v = b.cmd("POST", "/session", Some(&caps));
        b.session = v["sessionId"].as_str().expect("a session id").to_string();
        b
    }

    fn cmd(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        call(self.port, method, path, body).unwrap_or_else(|e| panic!("webdriver: {e}"))
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Opens `url`.
    pub(crate) fn goto(&self, url: &str) {
        self.cmd("POST", &self.s("/url"), Some(&json!({"url": url})));
    }

    /// Runs `script` in the page (a function body; `arguments` holds `args`); its result.
    pub(crate) fn eval(&self, script: &str, args: &[Value]) -> Value {
        self.cmd(
            "POST",
            &self.s("/execute/sync"),
            Some(&json!({"script": script, "args": args})),
        )
    }

    /// The text of the first element matching the CSS `selector` (`null` when there is none).
    pub(crate) fn text(&self, selector: &str) -> Value {
        self.eval(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
            &[json!(selector)],
        )
    }

    /// The first element matching the CSS `selector`.
    pub(crate) fn find(&self, selector: &str) -> Element {
        Element(self.cmd(
            "POST",
            &self.s("/element"),
            Some(&json!({"using": "css selector", "value": selector})),
        ))
    }

    /// Types `text` into `e` (as keystrokes).
    pub(crate) fn type_into(&self, e: &Element, text: &str) {
        let id = e.id();
        self.cmd(
            "POST",
            &self.s(&format!("/element/{id}/value")),
            Some(&json!({"text": text})),
        );
    }

    /// Clicks `e`.
    pub(crate) fn click(&self, e: &Element) {
        let id = e.id();
        self.cmd(
            "POST",
            &self.s(&format!("/element/{id}/click")),
            Some(&json!({})),
        );
    }

    /// Moves the mouse over `e` (hover).
    pub(crate) fn hover(&self, e: &Element) {
        let actions = json!({"actions": [{"type": "pointer", "id": "mouse",
            "parameters": {"pointerType": "mouse"},
            "actions": [{"type": "pointerMove", "duration": 0, "origin": e.0, "x": 0, "y": 0}]}]});
        self.cmd("POST", &self.s("/actions"), Some(&actions));
    }

    /// Waits (up to `secs`) until `script` returns true; panics with `what` otherwise.
    pub(crate) fn wait_for(&self, script: &str, secs: u64, what: &str) {
        let t = Instant::now();
        loop {
            if self.eval(script, &[]).as_bool() == Some(true) {
                return;
            }
            if t.elapsed() > Duration::from_secs(secs) {
                let status = self.eval("return document.getElementById('status') ? document.getElementById('status').textContent : document.title;", &[]);
                panic!("timed out waiting for {what} (page status: {status})");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs a Chrome DevTools Protocol command (chromedriver's `goog/cdp/execute`).
    pub(crate) fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.cmd(
            "POST",
            &self.s("/goog/cdp/execute"),
            Some(&json!({"cmd": cmd, "params": params})),
        )
    }

    /// Saves a PNG of the window to `path`.
    pub(crate) fn screenshot(&self, path: &Path) {
        let v = self.cmd("GET", &self.s("/screenshot"), None);
        let png = base64_decode(v.as_str().expect("base64 PNG"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot folder");
        }
        std::fs::write(path, png).expect("screenshot written");
    }
}

impl Element {
    fn id(&self) -> String {
        self.0[ELEMENT]
            .as_str()
            .expect("an element reference")
            .to_string()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = call(self.port, "DELETE", &self.s(""), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in s.bytes().filter_map(val) {
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
