//! Chat templates: the Jinja template a model ships, rendered as transformers'
//! `apply_chat_template` renders it.
//!
//! transformers compiles templates in a sandboxed Jinja2 environment with `trim_blocks`,
//! `lstrip_blocks` and the loop-control extension, and adds `raise_exception`, `strftime_now`
//! and its own `tojson` (Python's `json.dumps`, not Jinja's HTML-safe one). The variables are the
//! messages, `add_generation_prompt`, `tools` and `documents` (None unless given), the special
//! tokens (`bos_token`, `eos_token`, …) and any extra keyword arguments. minijinja plus the
//! Python-compatible string methods of `minijinja-contrib` reproduce this; the tests compare
//! rendered text with transformers byte for byte.

use minijinja::value::{Kwargs, Value as JValue};
use minijinja::{Environment, ErrorKind};
use serde_json::Value;

use crate::tokenizer::TextTokenizer;
use crate::{InferError, Result};

/// Prefix of the message `raise_exception` produces, so it can be told from engine errors.
const RAISED: &str = "template raised: ";

/// Most template instructions one render may execute. Real chat templates need about a hundred
/// per message (Qwen2's template over 1,000 messages with tool calls: 125,031); a template that
/// loops without end fails with an error instead of holding a request, or the server, forever.
pub const RENDER_FUEL: u64 = 20_000_000;

/// Longest rendered prompt, bytes (far beyond any context window).
pub const MAX_RENDER_BYTES: usize = 16 << 20;

/// Widest `tojson(indent=…)`.
const MAX_JSON_INDENT: usize = 64;

/// A compiled chat template with the tokenizer's special tokens.
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    source_name: String,
    special: Vec<(&'static str, Option<String>)>,
}

impl ChatTemplate {
    /// Compiles `source` (the template text); `source_name` says where it came from, for errors.
    pub fn new(source: &str, source_name: &str, tokenizer: &TextTokenizer) -> Result<Self> {
        let mut env = Environment::new();
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|e| template_error(source_name, &e))?;
        env.set_syntax(syntax.clone());
        env.set_fuel(Some(RENDER_FUEL));
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> std::result::Result<JValue, minijinja::Error> {
                Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    format!("{RAISED}{msg}"),
                ))
            },
        );
        env.add_function("strftime_now", |fmt: String| strftime(&fmt, now_utc()));
        env.add_filter("tojson", tojson);
        env.add_template_owned("chat", source.to_string())
            .map_err(|e| template_error(source_name, &e))?;
        // The engine has parsed it already; this parse is for the check only.
        let ast = minijinja::machinery::parse(source, source_name, syntax)
            .map_err(|e| template_error(source_name, &e))?;
        if let Some(message) = crate::chat_check::namespace_cycle(&ast) {
            return Err(InferError::Template {
                source_name: source_name.to_string(),
                message,
            });
        }
        Ok(Self {
            env,
            source_name: source_name.to_string(),
            special: vec![
                ("bos_token", tokenizer.bos_token.clone()),
                ("eos_token", tokenizer.eos_token.clone()),
                ("pad_token", tokenizer.pad_token.clone()),
                ("unk_token", tokenizer.unk_token.clone()),
            ],
        })
    }

    /// The template of `tokenizer`, or `None` when the model has none.
    pub fn from_tokenizer(tokenizer: &TextTokenizer) -> Result<Option<Self>> {
        match &tokenizer.chat_template {
            Some((src, name)) => Ok(Some(Self::new(src, name, tokenizer)?)),
            None => Ok(None),
        }
    }

    /// Renders `messages` (objects with `role` and `content`, plus anything the template reads,
    /// such as `tool_calls`). `extra` holds further variables (`tools`, `documents`,
    /// `enable_thinking` …); they override the defaults.
    pub fn render(
        &self,
        messages: &[Value],
        add_generation_prompt: bool,
        extra: &serde_json::Map<String, Value>,
    ) -> Result<String> {
        let mut ctx = serde_json::Map::new();
        ctx.insert("messages".into(), Value::Array(messages.to_vec()));
        ctx.insert(
            "add_generation_prompt".into(),
            Value::Bool(add_generation_prompt),
        );
        ctx.insert("tools".into(), Value::Null);
        ctx.insert("documents".into(), Value::Null);
        for (k, v) in &self.special {
            if let Some(v) = v {
                ctx.insert((*k).into(), Value::String(v.clone()));
            }
        }
        for (k, v) in extra {
            ctx.insert(k.clone(), v.clone());
        }
        let tmpl = self
            .env
            .get_template("chat")
            .map_err(|e| template_error(&self.source_name, &e))?;
        let mut out = Bounded(Vec::new());
        tmpl.render_captured_to(minijinja::value::Serde(&ctx), &mut out)
            .map_err(|e| template_error(&self.source_name, &e))?;
        String::from_utf8(out.0).map_err(|_| InferError::Template {
            source_name: self.source_name.clone(),
            message: "rendered text is not UTF-8".into(),
        })
    }
}

/// The render's output, refusing to grow past [`MAX_RENDER_BYTES`].
struct Bounded(Vec<u8>);

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_RENDER_BYTES {
            return Err(std::io::Error::other(format!(
                "rendered prompt longer than {MAX_RENDER_BYTES} bytes"
            )));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn template_error(source: &str, e: &minijinja::Error) -> InferError {
    let mut message = e.to_string();
    if e.kind() == ErrorKind::OutOfFuel {
        message = format!(
            "rendering ran past the limit of {RENDER_FUEL} template instructions (a loop without end?)"
        );
    }
    if e.kind() == ErrorKind::WriteFailure {
        message = format!("rendered prompt longer than {MAX_RENDER_BYTES} bytes");
    }
    if let Some(detail) = e.detail()
        && detail.starts_with(RAISED)
    {
        message = detail.to_string();
    }
    if let Some(line) = e.line() {
        message = format!("{message} (template line {line})");
    }
    InferError::Template {
        source_name: source.to_string(),
        message,
    }
}

/// transformers' `tojson`: `json.dumps(x, ensure_ascii=False, indent=indent,
/// separators=separators, sort_keys=sort_keys)`.
fn tojson(value: JValue, kwargs: Kwargs) -> std::result::Result<String, minijinja::Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    if indent.is_some_and(|n| n > MAX_JSON_INDENT) {
        return Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("tojson: indent is at most {MAX_JSON_INDENT}"),
        ));
    }
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    let separators: Option<Vec<String>> = kwargs.get("separators")?;
    // Python accepts ensure_ascii; glassbox always writes UTF-8 as transformers' default does.
    let _: Option<bool> = kwargs.get("ensure_ascii")?;
    kwargs.assert_all_used()?;
    let json = serde_json::to_value(&value)
        .map_err(|e| minijinja::Error::new(ErrorKind::InvalidOperation, format!("tojson: {e}")))?;
    let (item_sep, key_sep) = match separators.as_deref() {
        Some([a, b]) => (a.clone(), b.clone()),
        Some(_) => {
            return Err(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                "tojson: separators must be a pair",
            ));
        }
        None if indent.is_some() => (",".to_string(), ": ".to_string()),
        None => (", ".to_string(), ": ".to_string()),
    };
    let mut out = String::new();
    py_dump(
        &json,
        indent,
        sort_keys.unwrap_or(false),
        &item_sep,
        &key_sep,
        0,
        &mut out,
    );
    Ok(out)
}

/// Python `json.dumps` layout over a serde_json value.
fn py_dump(
    v: &Value,
    indent: Option<usize>,
    sort: bool,
    item_sep: &str,
    key_sep: &str,
    level: usize,
    out: &mut String,
) {
    let newline = |out: &mut String, level: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * level));
        }
    };
    match v {
        Value::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, level + 1);
                py_dump(item, indent, sort, item_sep, key_sep, level + 1, out);
            }
            newline(out, level);
            out.push(']');
        }
        Value::Object(map) if !map.is_empty() => {
            out.push('{');
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            if sort {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            for (i, (k, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, level + 1);
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(key_sep);
                py_dump(item, indent, sort, item_sep, key_sep, level + 1, out);
            }
            newline(out, level);
            out.push('}');
        }
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 => {
                out.push_str(&format!("{f:.1}"));
            }
            _ => out.push_str(&n.to_string()),
        },
        Value::String(_) => out.push_str(&v.to_string()),
    }
}

/// Seconds since the Unix epoch, now.
fn now_utc() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The subset of C `strftime` that chat templates use (`%d %b %Y` and friends), in UTC.
pub fn strftime(fmt: &str, unix: i64) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    // 1970-01-01 was a Thursday (index 3 with Monday = 0).
    let weekday = (days + 3).rem_euclid(7) as usize;
    let yday = days - days_from_civil(y, 1, 1) + 1;
    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str(&format!("{d:02}")),
            Some('-') => match chars.next() {
                Some('d') => out.push_str(&d.to_string()),
                Some('m') => out.push_str(&m.to_string()),
                Some(o) => out.push_str(&format!("%-{o}")),
                None => out.push_str("%-"),
            },
            Some('m') => out.push_str(&format!("{m:02}")),
            Some('Y') => out.push_str(&y.to_string()),
            Some('y') => out.push_str(&format!("{:02}", y.rem_euclid(100))),
            Some('b') => out.push_str(&MONTHS[(m - 1) as usize][..3]),
            Some('B') => out.push_str(MONTHS[(m - 1) as usize]),
            Some('a') => out.push_str(&DAYS[weekday][..3]),
            Some('A') => out.push_str(DAYS[weekday]),
            Some('j') => out.push_str(&format!("{yday:03}")),
            Some('H') => out.push_str(&format!("{:02}", secs / 3600)),
            Some('M') => out.push_str(&format!("{:02}", secs % 3600 / 60)),
            Some('S') => out.push_str(&format!("{:02}", secs % 60)),
            Some('%') => out.push('%'),
            Some(o) => {
                out.push('%');
                out.push(o);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strftime_known_dates() {
        // 2024-07-26 00:00:00 UTC (the default date in Llama 3.1's template).
        assert_eq!(strftime("%d %b %Y", 1_721_952_000), "26 Jul 2024");
        assert_eq!(
            strftime("%A %B %-d, %y %j %H:%M:%S", 0),
            "Thursday January 1, 70 001 00:00:00"
        );
        assert_eq!(civil_from_days(days_from_civil(2000, 2, 29)), (2000, 2, 29));
    }

    #[test]
    fn python_json_layout() {
        let v: Value = serde_json::json!({"b": [1, 2.0, "x\"y"], "a": {}, "c": null});
        let mut s = String::new();
        py_dump(&v, None, false, ", ", ": ", 0, &mut s);
        assert_eq!(s, r#"{"b": [1, 2.0, "x\"y"], "a": {}, "c": null}"#);
        let mut s = String::new();
        py_dump(&v, Some(2), true, ",", ": ", 0, &mut s);
        assert_eq!(
            s,
            "{\n  \"a\": {},\n  \"b\": [\n    1,\n    2.0,\n    \"x\\\"y\"\n  ],\n  \"c\": null\n}"
        );
    }

    fn qwen2() -> TextTokenizer {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/models/qwen2");
        TextTokenizer::load(&dir).expect("fixture tokenizer")
    }

    fn render(src: &str, messages: &[Value]) -> Result<String> {
        let tok = qwen2();
        ChatTemplate::new(src, "t.jinja", &tok)?.render(messages, true, &serde_json::Map::new())
    }

    #[test]
    fn a_template_that_loops_without_end_fails_instead_of_hanging() {
        let src = "{% for i in range(100000) %}{% for j in range(100000) %}{% set x = j %}{% endfor %}{% endfor %}";
        let t = std::time::Instant::now();
        let e = render(src, &[])
            .expect_err("must run out of fuel")
            .to_string();
        assert!(e.contains("limit of 20000000 template instructions"), "{e}");
        assert!(e.contains("t.jinja"), "{e}");
        // Fuel, not a clock: the bound holds on any machine; this only catches a missing limit.
        assert!(t.elapsed() < std::time::Duration::from_secs(120));
    }

    #[test]
    fn a_render_longer_than_the_output_limit_is_an_error() {
        let src = "{% for i in range(40) %}{{ 'x' * 1000000 }}{% endfor %}";
        let e = render(src, &[]).expect_err("too long").to_string();
        assert!(e.contains("longer than 16777216 bytes"), "{e}");
        // Below the limit the same template renders.
        let ok = render(
            "{% for i in range(4) %}{{ 'x' * 1000000 }}{% endfor %}",
            &[],
        )
        .unwrap();
        assert_eq!(ok.len(), 4_000_000);
    }

    #[test]
    fn tojson_indent_is_bounded() {
        let e = render("{{ messages | tojson(indent=100000000000) }}", &[])
            .expect_err("indent too wide")
            .to_string();
        assert!(e.contains("indent is at most 64"), "{e}");
        let m = [serde_json::json!({"role": "user", "content": "hi"})];
        assert!(render("{{ messages | tojson(indent=64) }}", &m).is_ok());
    }

    #[test]
    fn a_thousand_message_conversation_with_tools_renders_within_the_fuel() {
        let tok = qwen2();
        let (src, name) = tok.chat_template.clone().expect("qwen2 has a template");
        let t = ChatTemplate::new(&src, &name, &tok).unwrap();
        let mut messages = vec![serde_json::json!({"role": "system", "content": "Be brief."})];
        for i in 0..1000 {
            messages.push(match i % 4 {
                0 => serde_json::json!({"role": "user", "content": format!("question {i}")}),
                1 => serde_json::json!({"role": "assistant", "content": "", "tool_calls": [
                    {"function": {"name": "lookup", "arguments": {"q": i, "deep": [1, 2, {"x": null}]}}}
                ]}),
                2 => serde_json::json!({"role": "tool", "content": format!("result {i}")}),
                _ => serde_json::json!({"role": "assistant", "content": format!(" answer {i} ")}),
            });
        }
        let mut extra = serde_json::Map::new();
        extra.insert(
            "tools".into(),
            serde_json::json!([{"type": "function", "function": {"name": "lookup", "parameters": {}}}]),
        );
        let text = t.render(&messages, true, &extra).unwrap();
        assert!(text.ends_with("<|im_start|>assistant\n"));
        assert!(text.contains("answer 999"));
    }

    /// Regression (found by fuzzing): `{% set ns.turns = ns %}` made a namespace contain itself,
    /// and printing it overflowed the stack and aborted the process. Templates that could build
    /// such a cycle are refused when loaded; the namespace uses of real templates load.
    #[test]
    fn templates_that_could_make_a_namespace_contain_itself_are_refused() {
        let tok = qwen2();
        let ns = "{% set ns = namespace(a=1, s='') %}";
        for (body, why) in [
            ("{% set ns.a = ns %}{{ ns }}", "may be a namespace in `.a`"),
            ("{% set l = [ns] %}{% set ns.a = l[0] %}", "`.a`"),
            ("{% for x in [ns] %}{% set ns.a = x %}{% endfor %}", "`.a`"),
            ("{% set m = ns %}{% set ns.a = m %}", "`.a`"),
            ("{% set ns.a = ns or 1 %}", "`.a`"),
            ("{% set ns.a = 1 if x else ns %}", "`.a`"),
            ("{% set ns.a = none | default(ns) %}", "`.a`"),
            ("{% set ns.a = {'k': ns} %}", "`.a`"),
            ("{% set ns.a = ([ns] + [])[0] %}", "`.a`"),
            (
                "{% set m = namespace(b=ns) %}",
                "passes a value that may be a namespace",
            ),
            (
                "{% set f = namespace %}{% set m = f() %}{% set m.a = m %}",
                "other than by calling it",
            ),
            (
                "{% macro g(x) %}{% set ns.a = x %}{% endmacro %}{{ g(ns) }}",
                "`.a`",
            ),
            ("{% set c = cycler(ns) %}{% set ns.a = c.next() %}", "`.a`"),
            (
                "{% set m = namespace(b=1) %}{% set ns.a = m %}{% set m.b = ns %}",
                "`.a`",
            ),
        ] {
            let src = format!("{ns}{body}");
            let e = ChatTemplate::new(&src, "t.jinja", &tok)
                .expect_err(&src)
                .to_string();
            assert!(
                e.contains(why) && e.contains("contain itself"),
                "{src}: {e}"
            );
        }
        for body in [
            "{% set ns.a = ns.a + 1 %}{{ ns.a }}",
            "{% for m in messages %}{% set ns.s = ns.s + '\\n' + m['content'] %}{% set ns.a = loop.index0 %}{% endfor %}",
            "{% set ns.s = messages[0].content.strip() %}{% set ns.a = messages | length - 1 %}",
            "{% set ns.a = true %}{% set ns.s = ns.s ~ ns.a %}{% set ns.a = (ns.a and x) %}",
            "{% set ns.a = messages[0]['content'] if messages else '' %}",
        ] {
            let src = format!("{ns}{body}");
            let t =
                ChatTemplate::new(&src, "t.jinja", &tok).unwrap_or_else(|e| panic!("{src}: {e}"));
            let m = [serde_json::json!({"role": "user", "content": " hi "})];
            t.render(&m, true, &serde_json::Map::new()).unwrap();
        }
        for dir in ["llama", "qwen2", "llama-legacy"] {
            let d = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../tests/fixtures/models")
                .join(dir);
            let t = TextTokenizer::load(&d).unwrap();
            assert!(ChatTemplate::from_tokenizer(&t).unwrap().is_some(), "{dir}");
        }
    }
}
