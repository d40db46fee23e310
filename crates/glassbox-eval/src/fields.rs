//! `doc_to_text`, `doc_to_target`, `doc_to_choice` and `description` resolved for a document
//! as lm-eval resolves them (see [`crate::task`]): Jinja with undefined names as errors, a
//! trailing newline kept, values rendered as Python's `str()`, and Python list literals read
//! back.

use minijinja::value::Value as JValue;
use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

use crate::task::Spec;

/// The value of a field for one document.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// A string.
    Text(String),
    /// An integer (an index).
    Int(i64),
    /// A list (choices, or several targets).
    List(Vec<Value>),
}

/// Renders templates as lm-eval's Jinja environment does.
#[derive(Debug)]
pub struct Fields {
    env: Environment<'static>,
}

impl Default for Fields {
    fn default() -> Self {
        Self::new()
    }
}

impl Fields {
    /// A fresh environment: strict undefined, trailing newline kept, Python-style `str()`.
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
        {
            env.set_syntax(syntax);
        }
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_fuel(Some(1_000_000));
        env.set_formatter(|out, _state, value| {
            out.write_str(&py_str(value))?;
            Ok(())
        });
        Self { env }
    }

    /// Renders `template` with the document's fields.
    pub fn render(&self, template: &str, doc: &Value) -> Result<String, String> {
        self.env
            .render_str(template, minijinja::value::Serde(doc))
            .map_err(|e| {
                let mut m = e.to_string();
                if let Some(d) = e.detail() {
                    m = format!("{m}: {d}");
                }
                m
            })
    }

    /// `spec` for `doc`: a column's value, a rendered template, or the literal. `digits_to_int`:
    /// a rendered string of digits becomes an index (`doc_to_text`/`doc_to_target` of a task
    /// with choices); `list_literal`: a rendered `[…]` is read as a list (`doc_to_target`).
    pub fn resolve(
        &self,
        spec: &Spec,
        doc: &Value,
        digits_to_int: bool,
        list_literal: bool,
    ) -> Result<Resolved, String> {
        match spec {
            Spec::Int(i) => Ok(Resolved::Int(*i)),
            Spec::List(l) => Ok(Resolved::List(l.clone())),
            Spec::Text(s) => {
                if let Some(v) = doc.get(s) {
                    return Ok(match v {
                        Value::String(t) => Resolved::Text(t.clone()),
                        Value::Number(n) if n.is_i64() => Resolved::Int(n.as_i64().unwrap_or(0)),
                        Value::Array(a) => Resolved::List(a.clone()),
                        other => Resolved::Text(py_json_str(other)),
                    });
                }
                let text = self.render(s, doc)?;
                if digits_to_int && !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
                    return text
                        .parse()
                        .map(Resolved::Int)
                        .map_err(|e| format!("`{text}`: {e}"));
                }
                if list_literal && text.trim_start().starts_with('[') {
                    return parse_py_list(&text).map(Resolved::List);
                }
                Ok(Resolved::Text(text))
            }
        }
    }

    /// `doc_to_choice` for `doc`: a list of strings.
    pub fn choices(&self, spec: &Spec, doc: &Value) -> Result<Vec<String>, String> {
        let list = match spec {
            Spec::List(l) => l.clone(),
            Spec::Int(_) => return Err("doc_to_choice is a number, not a list".into()),
            Spec::Text(s) => match doc.get(s) {
                Some(Value::Array(a)) => a.clone(),
                Some(Value::Object(o)) => o.values().cloned().collect(),
                Some(other) => return Err(format!("column `{s}` is {other}, not a list")),
                None => parse_py_list(&self.render(s, doc)?)?,
            },
        };
        Ok(list
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => py_json_str(other),
            })
            .collect())
    }
}

/// Python's `str()` of a template value.
fn py_str(v: &JValue) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        Ok(other) => py_json_str(&other),
        Err(_) => v.to_string(),
    }
}

/// Python's `str()` of a JSON value: `True`, `None`, `['a', "it's"]`, `{'k': 1}`, `0.5`, `1.0`.
pub fn py_json_str(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| !n.is_i64() && !n.is_u64()) {
                let s = format!("{f:?}");
                if s.contains('.') || s.contains('e') || s.contains("inf") || s.contains("NaN") {
                    s
                } else {
                    format!("{s}.0")
                }
            } else {
                n.to_string()
            }
        }
        Value::String(s) => s.clone(),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(py_repr).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(o) => {
            let items: Vec<String> = o
                .iter()
                .map(|(k, v)| format!("{}: {}", py_repr(&Value::String(k.clone())), py_repr(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// Python's `repr()`: strings quoted with `'` unless they hold `'` and no `"`.
fn py_repr(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let q = if s.contains('\'') && !s.contains('"') {
                '"'
            } else {
                '\''
            };
            let mut out = String::from(q);
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c == q => {
                        out.push('\\');
                        out.push(c);
                    }
                    c => out.push(c),
                }
            }
            out.push(q);
            out
        }
        other => py_json_str(other),
    }
}

/// Reads a Python list literal of strings and numbers (`['a', "b", 3]`) — what
/// `ast.literal_eval` of a rendered `doc_to_choice` gives.
pub fn parse_py_list(text: &str) -> Result<Vec<Value>, String> {
    let t = text.trim();
    let inner = t
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or_else(|| format!("`{t}` is not a list literal"))?;
    let mut out = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let Some(&c) = chars.peek() else { break };
        if c == '\'' || c == '"' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    None => return Err(format!("`{t}`: unterminated string")),
                    Some('\\') => match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some('r') => s.push('\r'),
                        Some(o) => s.push(o),
                        None => return Err(format!("`{t}`: unterminated string")),
                    },
                    Some(x) if x == c => break,
                    Some(x) => s.push(x),
                }
            }
            out.push(Value::String(s));
        } else {
            let mut s = String::new();
            while chars.peek().is_some_and(|c| *c != ',') {
                s.push(chars.next().unwrap_or(','));
            }
            let s = s.trim();
            match serde_json::from_str::<Value>(s) {
                Ok(v @ Value::Number(_)) => out.push(v),
                _ => return Err(format!("`{t}`: `{s}` is not a string or number")),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_resolve_as_lm_eval_resolves_them() {
        let f = Fields::new();
        let doc = json!({"q": "Who?", "label": 2, "opts": ["a", "it's"], "n": "3"});
        let t = |s: &str| Spec::Text(s.into());
        assert_eq!(
            f.resolve(&t("q"), &doc, true, false).unwrap(),
            Resolved::Text("Who?".into())
        );
        assert_eq!(
            f.resolve(&t("label"), &doc, true, false).unwrap(),
            Resolved::Int(2)
        );
        // A column holding digits stays a string; a template rendering digits becomes an index.
        assert_eq!(
            f.resolve(&t("n"), &doc, true, false).unwrap(),
            Resolved::Text("3".into())
        );
        assert_eq!(
            f.resolve(&t("{{n}}"), &doc, true, false).unwrap(),
            Resolved::Int(3)
        );
        assert_eq!(
            f.resolve(&t("Q: {{q}}\n"), &doc, true, false).unwrap(),
            Resolved::Text("Q: Who?\n".into())
        );
        // Lists render as Python's str() and read back as lists.
        assert_eq!(f.render("{{opts}}", &doc).unwrap(), "['a', \"it's\"]");
        assert_eq!(f.choices(&t("{{opts}}"), &doc).unwrap(), vec!["a", "it's"]);
        assert_eq!(f.choices(&t("opts"), &doc).unwrap(), vec!["a", "it's"]);
        assert_eq!(
            f.render("{{q.strip()}} {{flag}}", &json!({"q": " x ", "flag": true}))
                .unwrap(),
            "x True"
        );
        assert!(
            f.render("{{missing}}", &doc)
                .unwrap_err()
                .contains("undefined")
        );
    }
}
