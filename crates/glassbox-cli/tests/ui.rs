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

/// One browser test at a time: each starts Chromium and a server, and CI machines are small.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

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
    let _serial = one_at_a_time();
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
    let curl = b.text("#curl");
    let curl = curl.as_str().unwrap();
    assert!(
        curl.contains(&format!("http://127.0.0.1:{port}/v1/chat/completions")),
        "{curl}"
    );
    assert!(
        curl.contains(r#""temperature":0"#) && curl.contains(r#""top_logprobs":5"#),
        "{curl}"
    );
    let py = b.text("#python");
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
    let curl = b.text("#curl");
    assert!(
        curl.as_str()
            .unwrap()
            .contains("Say something about light."),
        "the history is sent"
    );
    drop(b);
    stop(server);
}

/// Stop ends a stream in flight (the network slowed to a trickle so the stream is still
/// running when Stop is pressed): the page says how many tokens came, Send works again, and the
/// server answers the next request.
#[test]
fn stop_ends_a_stream_in_flight() {
    let _serial = one_at_a_time();
    let (server, port) = start(&[]);
    let b = playground(port);
    b.eval(SET, &[json!("#temperature"), json!("0")]);
    b.eval(SET, &[json!("#max_tokens"), json!("120")]);
    b.cdp("Network.enable", json!({}));
    b.cdp(
        "Network.emulateNetworkConditions",
        json!({"offline": false, "latency": 0, "downloadThroughput": 400, "uploadThroughput": -1}),
    );
    b.type_into(&b.find("#prompt"), "Tell a long story.");
    b.click(&b.find("#send"));
    b.wait_for(
        "return document.querySelectorAll('.msg.assistant .tok').length >= 1;",
        60,
        "the first tokens",
    );
    b.click(&b.find("#stop"));
    wait_status(&b, "Stopped after", "the stop");
    let n = b.eval(
        "return document.querySelectorAll('.msg.assistant .tok').length;",
        &[],
    );
    assert!(n.as_u64().unwrap() < 120, "stopped early: {n} tokens");
    assert_eq!(
        b.eval("return document.getElementById('send').disabled;", &[]),
        json!(false)
    );
    assert_eq!(
        b.eval("return document.getElementById('stop').disabled;", &[]),
        json!(true)
    );
    b.cdp(
        "Network.emulateNetworkConditions",
        json!({"offline": false, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}),
    );
    b.eval(SET, &[json!("#max_tokens"), json!("4")]);
    b.type_into(&b.find("#prompt"), "Again, briefly.");
    b.click(&b.find("#send"));
    wait_status(&b, "Done", "the next request");
    drop(b);
    stop(server);
}

/// Completion mode streams into one block after the prompt, and a bad request (a seed that is
/// not an integer) is shown as the API's error, naming the field.
#[test]
fn completion_mode_and_errors_from_the_api() {
    let _serial = one_at_a_time();
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
    let prompt = b.text(".msg.completion .prompt-text");
    assert_eq!(prompt, json!("In the beginning"));
    b.eval(SET, &[json!("#seed"), json!("1.5")]);
    b.type_into(&b.find("#prompt"), "Again");
    b.click(&b.find("#send"));
    wait_status(&b, "Failed", "the error");
    let err = b.text(".msg.error");
    assert!(err.as_str().unwrap().contains("seed"), "{err}");
    b.screenshot(&shot("playground-completion-error"));
    drop(b);
    stop(server);
}

/// With `--api-key`, the page loads without it, asks for the key once, and then works; a wrong
/// key is refused with a message and asked for again.
#[test]
fn the_page_asks_for_the_api_key_once() {
    let _serial = one_at_a_time();
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
    let curl = b.text("#curl");
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
    let _serial = one_at_a_time();
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
    assert_eq!(b.text("#level-text"), json!("Open-Weight"));
    let current = b.text("ol.spectrum [aria-current]");
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
    let hl = b.text("table.code tr.hl");
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
    let err = b.text("#error");
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

/// A tiny quickstart (8 steps, made once for the tests of this file): its run and bundle, for
/// the runs pages. Returns the folder holding `run/` and `bundle/`.
fn tiny_quickstart() -> PathBuf {
    static QS: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let tmp = QS.get_or_init(|| {
        let t = tempfile::tempdir().unwrap();
        make_quickstart(t.path());
        t
    });
    tmp.path().join("qs")
}

fn make_quickstart(tmp: &std::path::Path) -> PathBuf {
    let corpus = tmp.join("corpus.txt");
    let full = std::fs::read_to_string(server::repo().join("target/corpora/en_web.txt"))
        .unwrap_or_else(|_| panic!("the test corpora are missing: run scripts/dev-setup.sh"));
    let part: Vec<&str> = full.lines().take(10000).collect();
    std::fs::write(&corpus, part.join("\n") + "\n").unwrap();
    let out = tmp.join("qs");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(["quickstart", "--corpus"])
        .arg(&corpus)
        .args(["--corpus-license", "public-domain", "--out"])
        .arg(&out)
        .args(["--steps", "8", "--preset", "tiny", "--vocab-size", "512"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

/// The runs pages on a quickstart's output: the list; a run's curves (hover shows the values,
/// the log-step toggle redraws), its checkpoint timeline with samples, the trace of a sentence,
/// a 10 MB paste refused with a message, a checkpoint opened in the playground and answering;
/// a half-written run's problems listed; a bundle's hash check passing, then failing in red
/// with the reason once a file is changed.
#[test]
fn the_runs_pages_show_a_run_and_its_bundle() {
    let _serial = one_at_a_time();
    let qs = tiny_quickstart();
    // A half-written copy of the run: no run.json, a log cut mid-line, a leftover checkpoint.
    let broken = qs.join("broken");
    std::fs::create_dir_all(broken.join("logs")).unwrap();
    std::fs::create_dir_all(broken.join("checkpoints/.tmp-step-0000009-42")).unwrap();
    let log = std::fs::read_to_string(qs.join("run/logs/train.jsonl")).unwrap();
    std::fs::write(
        broken.join("logs/train.jsonl"),
        format!("{log}{{\"step\":9,\"lo"),
    )
    .unwrap();
    let runs = qs.display().to_string();
    let (server, port) = start(&["--runs", &runs]);
    let b = Browser::start();
    let base = format!("http://127.0.0.1:{port}");
    b.goto(&format!("{base}/runs"));
    let listed = b.eval(
        "return Array.from(document.querySelectorAll('#runs tr td:first-child')).map(td => td.textContent + ' ' + td.nextElementSibling.textContent);",
        &[],
    );
    assert_eq!(listed, json!(["broken run", "bundle bundle", "run run"]));
    // The run.
    b.click(&b.find("#runs a[href$='path=run']"));
    b.wait_for(
        "return document.querySelectorAll('svg.plot').length >= 2;",
        30,
        "the curves",
    );
    let rows = b.eval(
        "return Array.from(document.querySelectorAll('#checkpoints tr')).slice(1).map(r => [r.cells[0].textContent, r.cells[4].textContent.length > 0]);",
        &[],
    );
    assert_eq!(
        rows,
        json!([
            ["0", true],
            ["1", false],
            ["2", false],
            ["4", true],
            ["8", true]
        ]),
        "five Pythia checkpoints, samples at 0, 4 and 8"
    );
    b.hover(&b.find("#chart-loss svg"));
    b.wait_for(
        "return !document.querySelector('#chart-loss .tip').hidden;",
        10,
        "the values under the cursor",
    );
    let tip = b.text("#chart-loss .tip");
    assert!(
        tip.as_str().unwrap().starts_with("step ")
            && tip.as_str().unwrap().contains("training loss: "),
        "{tip}"
    );
    b.click(&b.find("#logx"));
    let axis = b.text("#chart-loss svg");
    assert!(axis.as_str().unwrap().contains("log scale"), "{axis}");
    assert!(
        b.eval(
            "return document.querySelectorAll('figure[data-task] svg').length;",
            &[]
        )
        .as_u64()
        .unwrap()
            >= 2,
        "the eval curves"
    );
    b.screenshot(&shot("run-page"));
    // Trace a sentence of the corpus.
    b.type_into(&b.find("#trace-query"), "The earth was formless and empty.");
    b.click(&b.find("#trace-form button"));
    b.wait_for("return !!document.getElementById('trace-table') || !!document.getElementById('trace-error');", 60, "the trace");
    let found = b.eval(
        "return document.querySelectorAll('#trace-table tr').length;",
        &[],
    );
    assert!(
        found.as_u64().unwrap() >= 2,
        "the document holding Genesis 1:2 is found"
    );
    // A document id trained on in the first four steps: its first checkpoint is 1, 2 or 4.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .arg("trace")
        .arg(qs.join("bundle"))
        .args(["--checkpoint", "4", "--json"])
        .output()
        .unwrap();
    let at4: Value = serde_json::from_slice(&o.stdout).unwrap();
    let id = at4["documents"][0][0].as_str().unwrap().to_string();
    b.eval(SET, &[json!("#trace-query"), json!(id)]);
    b.click(&b.find("#trace-form button"));
    b.wait_for(
        &format!("return !!document.getElementById('trace-table') && document.getElementById('trace-table').textContent.includes('{id}');"),
        60,
        "the trace of a document id",
    );
    let first = b.text("#trace-table td.first-checkpoint");
    assert!(
        ["1", "2", "4"].contains(&first.as_str().unwrap()),
        "a first checkpoint: {first}"
    );
    b.screenshot(&shot("run-trace"));
    // A 10 MB paste is refused with a message, and the page stays usable.
    b.eval(
        "document.getElementById('trace-query').value = 'a'.repeat(10 * 1024 * 1024); return true;",
        &[],
    );
    b.click(&b.find("#trace-form button"));
    b.wait_for(
        "return !!document.getElementById('trace-error');",
        30,
        "the refusal",
    );
    let err = b.text("#trace-error");
    assert!(
        err.as_str().unwrap().contains("too long") || err.as_str().unwrap().contains("bytes"),
        "{err}"
    );
    // Open checkpoint 4 in the playground; it answers.
    b.click(&b.find("button.load[data-step='4']"));
    b.wait_for("return location.pathname === '/' && document.getElementById('model').value.endsWith('run@step-4');", 60, "the playground on step 4");
    b.click(&b.find("input[name=mode][value=completion]"));
    b.eval(SET, &[json!("#max_tokens"), json!("5")]);
    b.type_into(&b.find("#prompt"), "And God said");
    b.click(&b.find("#send"));
    wait_status(&b, "Done", "step 4's completion");
    // The half-written run lists what is wrong.
    b.goto(&format!("{base}/runs/view?path=broken"));
    let problems = b.eval("return Array.from(document.querySelectorAll('#problems li')).map(li => li.textContent).join('\\n');", &[]);
    let problems = problems.as_str().unwrap();
    for needle in [
        "no run.json",
        "logs/train.jsonl line 9: not a JSON record",
        ".tmp-step-0000009-42",
    ] {
        assert!(problems.contains(needle), "{needle} in {problems}");
    }
    // The bundle: its hashes pass; a changed file fails, in red, naming it.
    b.goto(&format!("{base}/runs/view?path=bundle"));
    b.click(&b.find("#verify"));
    b.wait_for(
        "return document.getElementById('verify-result').className !== '' ;",
        120,
        "the hash check",
    );
    let r = b.eval("return [document.getElementById('verify-result').className, document.getElementById('verify-result').textContent];", &[]);
    assert_eq!(r[0], json!("ok"), "{r}");
    let card = qs.join("bundle/README.md");
    let mut text = std::fs::read_to_string(&card).unwrap();
    text.push_str("\nA line added after the release.\n");
    std::fs::write(&card, text).unwrap();
    b.click(&b.find("#verify"));
    b.wait_for(
        "return document.getElementById('verify-result').className === 'error';",
        120,
        "the failed check",
    );
    let r = b.text("#verify-result");
    assert!(r.as_str().unwrap().contains("README.md"), "{r}");
    b.screenshot(&shot("bundle-verification-failed"));
    drop(b);
    stop(server);
}

/// `glassbox ui` on a quickstart's output serves its bundle's model and lists its run and bundle;
/// on a folder without any model it says so.
#[test]
fn glassbox_ui_serves_a_quickstart_folder() {
    let _serial = one_at_a_time();
    let qs = tiny_quickstart();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .arg("ui")
        .arg(&qs)
        .args(["--port", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let port = server::port_of(&mut child);
    let (status, models) = http(port, "GET", "/v1/models", "", None);
    assert!(status.contains("200"), "{status}");
    assert!(
        models.contains("\"id\":\"bundle\""),
        "the bundle's model: {models}"
    );
    let (status, list) = http(port, "GET", "/runs", "", None);
    assert!(status.contains("200"), "{status}");
    assert!(
        list.contains("path=run\"") && list.contains("path=bundle\""),
        "{list}"
    );
    stop(child);
    let empty = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .arg("ui")
        .arg(empty.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no model to serve"), "{err}");
}
