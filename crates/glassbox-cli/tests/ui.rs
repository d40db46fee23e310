//! The web pages of `glassbox serve` in a real browser: headless Chromium driven over WebDriver
//! (`chromium` and `chromium-driver`, installed by `scripts/dev-setup.sh`). Each test saves a
//! screenshot under `target/tmp/ui-screenshots/`; docs/ui.md shows them.

#![allow(clippy::unwrap_used)]

#[path = "support/server.rs"]
mod server;
#[path = "support/webdriver.rs"]
mod webdriver;

use std::path::PathBuf;

use serde_json::{Value, json};
use server::{http, start, stop};
use webdriver::Browser;

fn shot(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("ui-screenshots")
        .join(format!("{name}.png"))
}

fn is_png(path: &PathBuf) -> bool {
    std::fs::read(path).is_ok_and(|b| b.starts_with(b"\x89PNG\r\n\x1a\n") && b.len() > 1000)
}

/// Sets an input's value as a user would (and lets the page see the change).
const SET: &str = "const e = document.querySelector(arguments[0]); e.value = arguments[1]; \
                   e.dispatchEvent(new Event('input', {bubbles: true})); return true;";

/// A browser on the playground of the server at `port`, once the model list is in.
fn playground(port: u16) -> Browser {
    let b = Browser::start();
    b.goto(&format!("http://127.0.0.1:{port}/"));
    wait_models(&b);
    b
}

fn wait_models(b: &Browser) {
    b.wait_for(
        "return document.querySelectorAll('#model option').length === 2;",
        30,
        "the model list",
    );
}

/// Waits for the status line to start with `prefix`.
fn wait_status(b: &Browser, prefix: &str, what: &str) {
    b.wait_for(
        &format!("return document.getElementById('status').textContent.startsWith('{prefix}');"),
        60,
        what,
    );
}

/// A chat sent from the page streams its tokens into the conversation; with probabilities on,
/// each token is coloured and hovering one shows its top alternatives; the text is the one the
/// API gives for the same request; the page shows that request as curl and Python.
#[test]
fn a_chat_streams_tokens_with_their_probabilities() {
    let (server, port) = start(&[]);
    let b = playground(port);
    assert_eq!(
        b.eval("return document.getElementById('model').value;", &[]),
        json!("llama")
    );
    b.eval(SET, &[json!("#temperature"), json!("0")]);
    b.eval(SET, &[json!("#max_tokens"), json!("12")]);
    b.eval(SET, &[json!("#system"), json!("You are terse.")]);
    b.click(&b.find("#probs"));
    b.type_into(&b.find("#prompt"), "Say something about light.");
    b.click(&b.find("#send"));
    wait_status(&b, "Done", "the reply to finish");
    let tokens = b.eval(
        "return Array.from(document.querySelectorAll('.msg.assistant .tok')).map(s => [s.textContent, !!s.dataset.info]);",
        &[],
    );
    let tokens = tokens.as_array().unwrap();
    assert_eq!(tokens.len(), 12, "{tokens:?}");
    assert!(
        tokens.iter().all(|t| t[1] == json!(true)),
        "every token has its probabilities"
    );
    let shown: String = tokens.iter().map(|t| t[0].as_str().unwrap()).collect();

    // The same request through the API, not streamed.
    let body = json!({"model": "llama", "temperature": 0, "max_tokens": 12,
        "messages": [{"role": "system", "content": "You are terse."},
                     {"role": "user", "content": "Say something about light."}]});
    let (status, reply) = http(
        port,
        "POST",
        "/v1/chat/completions",
        &body.to_string(),
        None,
    );
    assert!(status.contains("200"), "{status}: {reply}");
    let reply: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(
        shown,
        reply["choices"][0]["message"]["content"].as_str().unwrap()
    );

    // Probabilities: colours on, a pop-up with the alternatives on hover.
    assert_eq!(
        b.eval(
            "return document.getElementById('log').classList.contains('probs');",
            &[]
        ),
        json!(true)
    );
    let first = b.find(".msg.assistant .tok");
    b.hover(&first);
    b.wait_for(
        "return !document.getElementById('tip').hidden;",
        10,
        "the probability pop-up",
    );
    let rows = b.eval("return document.querySelectorAll('#tip tr').length;", &[]);
    assert_eq!(rows, json!(5), "top-5 alternatives");
    let chosen = b.eval(
        "return document.querySelectorAll('#tip tr.chosen').length;",
        &[],
    );
    assert_eq!(
        chosen,
        json!(1),
        "greedy: the chosen token is among the top 5"
    );
    b.screenshot(&shot("playground-probabilities"));
    assert!(is_png(&shot("playground-probabilities")));

    // The exact request, as curl and Python.
    let curl = b.eval("return document.getElementById('curl').textContent;", &[]);
    let curl = curl.as_str().unwrap();
    assert!(
        curl.contains(&format!("http://127.0.0.1:{port}/v1/chat/completions")),
        "{curl}"
    );
    assert!(
        curl.contains(r#""temperature":0"#) && curl.contains(r#""top_logprobs":5"#),
        "{curl}"
    );
    let py = b.eval("return document.getElementById('python').textContent;", &[]);
    assert!(
        py.as_str()
            .unwrap()
            .contains("client.chat.completions.create("),
        "{py}"
    );

    // A second turn carries the first.
    b.type_into(&b.find("#prompt"), "And about sound?");
    b.click(&b.find("#send"));
    b.wait_for(
        "return document.getElementById('status').textContent.startsWith('Done') && document.querySelectorAll('.msg.assistant').length === 2;",
        60,
        "the second reply",
    );
    let curl = b.eval("return document.getElementById('curl').textContent;", &[]);
    assert!(
        curl.as_str()
            .unwrap()
            .contains("Say something about light."),
        "the history is sent"
    );
    drop(b);
    stop(server);
}

/// Completion mode streams into one block after the prompt, and a bad request (a seed that is
/// not an integer) is shown as the API's error, naming the field.
#[test]
fn completion_mode_and_errors_from_the_api() {
    let (server, port) = start(&[]);
    let b = playground(port);
    b.click(&b.find("input[name=mode][value=completion]"));
    b.eval(SET, &[json!("#temperature"), json!("0")]);
    b.eval(SET, &[json!("#max_tokens"), json!("6")]);
    b.type_into(&b.find("#prompt"), "In the beginning");
    b.click(&b.find("#send"));
    wait_status(&b, "Done", "the completion");
    let shown = b.eval(
        "return Array.from(document.querySelectorAll('.msg.completion .tok')).map(s => s.textContent).join('');",
        &[],
    );
    let body =
        json!({"model": "llama", "temperature": 0, "max_tokens": 6, "prompt": "In the beginning"});
    let (status, reply) = http(port, "POST", "/v1/completions", &body.to_string(), None);
    assert!(status.contains("200"), "{status}: {reply}");
    let reply: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(shown, reply["choices"][0]["text"]);
    let prompt = b.eval(
        "return document.querySelector('.msg.completion .prompt-text').textContent;",
        &[],
    );
    assert_eq!(prompt, json!("In the beginning"));
    b.eval(SET, &[json!("#seed"), json!("1.5")]);
    b.type_into(&b.find("#prompt"), "Again");
    b.click(&b.find("#send"));
    wait_status(&b, "Failed", "the error");
    let err = b.eval(
        "return document.querySelector('.msg.error').textContent;",
        &[],
    );
    assert!(err.as_str().unwrap().contains("seed"), "{err}");
    b.screenshot(&shot("playground-completion-error"));
    drop(b);
    stop(server);
}

/// With `--api-key`, the page loads without it, asks for the key once, and then works; a wrong
/// key is refused with a message and asked for again.
#[test]
fn the_page_asks_for_the_api_key_once() {
    let (server, port) = start(&["--api-key", "sesame"]);
    let (status, _) = http(port, "GET", "/", "", None);
    assert!(status.contains("200"), "the page needs no key: {status}");
    let (status, _) = http(port, "GET", "/v1/models", "", None);
    assert!(status.contains("401"), "the API does: {status}");
    let b = Browser::start();
    b.goto(&format!("http://127.0.0.1:{port}/"));
    b.wait_for(
        "return document.getElementById('key-dialog').open;",
        30,
        "the key dialog",
    );
    b.type_into(&b.find("#key"), "wrong");
    b.click(&b.find("#key-form button"));
    b.wait_for(
        "return document.getElementById('key-dialog').open && document.getElementById('key-error').textContent.includes('refused');",
        30,
        "the refusal",
    );
    b.eval(SET, &[json!("#key"), json!("")]);
    b.type_into(&b.find("#key"), "sesame");
    b.click(&b.find("#key-form button"));
    wait_models(&b);
    assert_eq!(
        b.eval("return document.getElementById('key-dialog').open;", &[]),
        json!(false)
    );
    let curl = b.eval("return document.getElementById('curl').textContent;", &[]);
    assert!(
        curl.as_str()
            .unwrap()
            .contains("Authorization: Bearer $GLASSBOX_API_KEY"),
        "{curl}"
    );
    assert!(
        !curl.as_str().unwrap().contains("sesame"),
        "the key itself is never shown"
    );
    // The key typed into the page also opens the report pages (a cookie, not the key).
    b.goto(&format!("http://127.0.0.1:{port}/audit?target=llama"));
    b.wait_for(
        "return !!document.getElementById('level-text');",
        60,
        "the report, with the key's cookie",
    );
    b.goto(&format!("http://127.0.0.1:{port}/"));
    wait_models(&b);
    b.click(&b.find("#theme"));
    assert_eq!(
        b.eval("return document.documentElement.dataset.theme;", &[]),
        json!("dark")
    );
    b.screenshot(&shot("playground-dark"));
    drop(b);
    stop(server);
}

/// A release with weights, a Llama config, training code, a card with a training-data section
/// and a custom licence whose §3.1 sets a user threshold: everything of Open-Source AI but the
/// terms. Returns its folder (inside `tmp`).
fn restricted_release(tmp: &std::path::Path) -> PathBuf {
    let root = tmp.join("acme-release");
    std::fs::create_dir_all(&root).unwrap();
    let header = r#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
    let mut st = (header.len() as u64).to_le_bytes().to_vec();
    st.extend_from_slice(header.as_bytes());
    st.extend([0u8; 16]);
    std::fs::write(root.join("model.safetensors"), st).unwrap();
    std::fs::write(
        root.join("config.json"),
        r#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama"}"#,
    )
    .unwrap();
    std::fs::write(root.join("train.py"), "# training loop\n").unwrap();
    std::fs::write(
        root.join("README.md"),
        "---\nlicense: other\n---\n# Acme model\n\n## Training data\n\nPublic-domain books.\n",
    )
    .unwrap();
    let licence = server::repo()
        .join("crates/glassbox-audit/tests/fixtures/licenses/custom/acme-open-model-license.md");
    std::fs::copy(licence, root.join("LICENSE.md")).unwrap();
    root
}

/// The openness report of a local release: its level on the spectrum, the run freedom failing
/// with the licence's own sentence quoted; its evidence link opens the file with that line
/// highlighted; a target that does not exist is an error in red, not a hang.
#[test]
fn the_openness_report_quotes_the_clause_and_opens_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let release = restricted_release(tmp.path());
    let browse = tmp.path().display().to_string();
    let (server, port) = start(&["--browse", &browse]);
    let b = Browser::start();
    let target = release.display().to_string();
    b.goto(&format!(
        "http://127.0.0.1:{port}/audit?target={}",
        target.replace(' ', "%20")
    ));
    b.wait_for(
        "return !!document.getElementById('level-text');",
        60,
        "the report",
    );
    assert_eq!(
        b.eval(
            "return document.getElementById('level-text').textContent;",
            &[]
        ),
        json!("Open-Weight")
    );
    let current = b.eval(
        "return document.querySelector('ol.spectrum [aria-current]').textContent;",
        &[],
    );
    assert!(
        current.as_str().unwrap().starts_with("Open-Weight"),
        "{current}"
    );
    let run = b.eval(
        "return document.querySelector('#f-run').parentElement.textContent;",
        &[],
    );
    let run = run.as_str().unwrap();
    assert!(
        run.contains("run: fails") && run.contains("50 million"),
        "{run}"
    );
    let exports = b.eval("return Array.from(document.querySelectorAll('.exports a')).map(a => a.getAttribute('download'));", &[]);
    assert_eq!(
        exports,
        json!([
            "acme-release.audit.json",
            "acme-release.mot.yml",
            "acme-release.cdx.json"
        ])
    );
    b.screenshot(&shot("openness-report"));
    // Follow the quote's evidence link to the licence, its line highlighted.
    let link = b.find("#f-run ~ ul blockquote + p a");
    b.click(&link);
    b.wait_for(
        "return !!document.querySelector('table.code tr.hl');",
        30,
        "the file viewer",
    );
    let hl = b.eval(
        "return document.querySelector('table.code tr.hl').textContent;",
        &[],
    );
    assert!(hl.as_str().unwrap().contains("50 million"), "{hl}");
    assert!(b.eval("return location.pathname;", &[]) == json!("/ui/file"));
    b.screenshot(&shot("openness-evidence"));
    // A target that does not exist.
    b.goto(&format!(
        "http://127.0.0.1:{port}/audit?target=/no/such/release"
    ));
    b.wait_for(
        "return !!document.getElementById('error');",
        30,
        "the error",
    );
    let err = b.eval("return document.getElementById('error').textContent;", &[]);
    assert!(
        err.as_str()
            .unwrap()
            .contains("cannot audit `/no/such/release`"),
        "{err}"
    );
    let colour = b.eval(
        "return getComputedStyle(document.getElementById('error')).color;",
        &[],
    );
    assert_eq!(colour, json!("rgb(179, 38, 30)"), "the message is in red");
    drop(b);
    stop(server);
}
