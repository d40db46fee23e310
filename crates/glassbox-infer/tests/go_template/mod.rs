//! A small renderer for the subset of Go's `text/template` that glassbox's Ollama templates
//! (and Ollama's own simple ones) use: text, `{{ pipeline }}` output, `if`/`else if`/`else`/`end`,
//! `range` (with `$i, $m :=`), `$x := …` and `$x = …`, fields (`.Role`, `$.System`,
//! `$m.Content`), string and integer literals, parentheses, the functions `eq`, `ne`, `and`,
//! `or`, `not`, `len`, and the trim markers `{{-` / `-}}`. Written from the `text/template`
//! documentation, for tests only (CI has no Go and no Ollama).

#![allow(dead_code)]

use std::collections::BTreeMap;

/// A value the template sees.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum V {
    Nil,
    Bool(bool),
    Int(i64),
    Str(String),
    List(Vec<V>),
    Map(BTreeMap<String, V>),
}

impl V {
    fn truthy(&self) -> bool {
        match self {
            V::Nil => false,
            V::Bool(b) => *b,
            V::Int(i) => *i != 0,
            V::Str(s) => !s.is_empty(),
            V::List(l) => !l.is_empty(),
            V::Map(m) => !m.is_empty(),
        }
    }

    fn field(&self, name: &str) -> V {
        match self {
            V::Map(m) => m.get(name).cloned().unwrap_or(V::Nil),
            _ => V::Nil,
        }
    }

    fn print(&self) -> String {
        match self {
            V::Nil => "<no value>".into(),
            V::Bool(b) => b.to_string(),
            V::Int(i) => i.to_string(),
            V::Str(s) => s.clone(),
            other => format!("{other:?}"),
        }
    }
}

/// Ollama's data for a chat: `.System` (system messages joined with a blank line) and
/// `.Messages` (consecutive messages of one role merged, as Ollama does).
pub(crate) fn ollama_values(msgs: &[(&str, &str)]) -> V {
    let system: Vec<&str> = msgs
        .iter()
        .filter(|(r, _)| *r == "system")
        .map(|(_, c)| *c)
        .collect();
    let mut merged: Vec<(String, String)> = Vec::new();
    for (r, c) in msgs {
        match merged.last_mut() {
            Some((lr, lc)) if lr == r && *r != "tool" => {
                lc.push_str("\n\n");
                lc.push_str(c);
            }
            _ => merged.push((r.to_string(), c.to_string())),
        }
    }
    let messages = merged
        .into_iter()
        .map(|(r, c)| {
            V::Map(BTreeMap::from([
                ("Role".to_string(), V::Str(r)),
                ("Content".to_string(), V::Str(c)),
            ]))
        })
        .collect();
    V::Map(BTreeMap::from([
        ("System".to_string(), V::Str(system.join("\n\n"))),
        ("Messages".to_string(), V::List(messages)),
        ("Response".to_string(), V::Str(String::new())),
    ]))
}

#[derive(Debug)]
enum Node {
    Text(String),
    Out(Expr),
    If(Vec<(Expr, Vec<Node>)>, Vec<Node>),
    Range(Vec<String>, Expr, Vec<Node>, Vec<Node>),
    Decl(String, Expr),
    Assign(String, Expr),
}

#[derive(Debug, Clone)]
enum Expr {
    Lit(V),
    /// A variable (`$` is the root) followed by field names.
    Var(String, Vec<String>),
    /// Fields of dot.
    Dot(Vec<String>),
    Call(String, Vec<Expr>),
}

/// Splits the source into text and action pieces, applying the trim markers.
fn lex(src: &str) -> Result<Vec<(bool, String)>, String> {
    let mut out: Vec<(bool, String)> = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while let Some(i) = rest.find("{{") {
        let mut text = rest[..i].to_string();
        if trim_next {
            text = text.trim_start().to_string();
        }
        let after = &rest[i + 2..];
        let trim_prev = after.starts_with("- ");
        if trim_prev {
            text = text.trim_end().to_string();
        }
        out.push((false, text));
        let j = find_close(after).ok_or("unclosed action")?;
        let mut body = &after[..j];
        if trim_prev {
            body = &body[2..];
        }
        trim_next = body.ends_with(" -");
        if trim_next {
            body = &body[..body.len() - 2];
        }
        out.push((true, body.trim().to_string()));
        rest = &after[j + 2..];
    }
    let mut text = rest.to_string();
    if trim_next {
        text = text.trim_start().to_string();
    }
    out.push((false, text));
    Ok(out)
}

/// The `}}` that closes an action, skipping string literals.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut in_str = false;
    while i < b.len() {
        match b[i] {
            b'\\' if in_str => i += 1,
            b'"' => in_str = !in_str,
            b'}' if !in_str && b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn tokens(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '(' || c == ')' || c == ',' {
            out.push(c.to_string());
            chars.next();
        } else if c == '"' {
            let mut t = String::from("\"");
            chars.next();
            while let Some(c) = chars.next() {
                t.push(c);
                if c == '\\' {
                    t.push(chars.next().ok_or("bad escape")?);
                } else if c == '"' {
                    break;
                }
            }
            out.push(t);
        } else {
            let mut t = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '(' || c == ')' || c == ',' {
                    break;
                }
                t.push(c);
                chars.next();
            }
            out.push(t);
        }
    }
    Ok(out)
}

fn unquote(t: &str) -> Result<String, String> {
    let inner = &t[1..t.len() - 1];
    let mut out = String::new();
    let mut it = inner.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next().ok_or("bad escape")? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '"' => out.push('"'),
            '\\' => out.push('\\'),
            'u' => {
                let hex: String = it.by_ref().take(4).collect();
                let n = u32::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
                out.push(char::from_u32(n).ok_or("bad \\u")?);
            }
            e => return Err(format!("unsupported escape \\{e}")),
        }
    }
    Ok(out)
}

fn operand(t: &str) -> Result<Expr, String> {
    if t.starts_with('"') {
        return Ok(Expr::Lit(V::Str(unquote(t)?)));
    }
    if let Ok(n) = t.parse::<i64>() {
        return Ok(Expr::Lit(V::Int(n)));
    }
    if t == "true" || t == "false" {
        return Ok(Expr::Lit(V::Bool(t == "true")));
    }
    if t == "." {
        return Ok(Expr::Dot(vec![]));
    }
    if let Some(f) = t.strip_prefix('.') {
        return Ok(Expr::Dot(f.split('.').map(String::from).collect()));
    }
    if t.starts_with('$') {
        let mut parts = t.split('.');
        let var = parts.next().unwrap_or("$").to_string();
        return Ok(Expr::Var(var, parts.map(String::from).collect()));
    }
    Err(format!("unsupported operand {t:?}"))
}

/// A command: an operand, or a function with arguments (parenthesised sub-commands allowed).
fn command(toks: &[String]) -> Result<Expr, String> {
    let mut args = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if toks[i] == "(" {
            let mut depth = 0;
            let start = i + 1;
            loop {
                match toks.get(i).map(String::as_str) {
                    Some("(") => depth += 1,
                    Some(")") => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    None => return Err("unbalanced parentheses".into()),
                    _ => {}
                }
                i += 1;
            }
            args.push(command(&toks[start..i])?);
        } else if ["eq", "ne", "and", "or", "not", "len"].contains(&toks[i].as_str()) && i == 0 {
            args.push(Expr::Call(toks[i].clone(), vec![]));
        } else {
            args.push(operand(&toks[i])?);
        }
        i += 1;
    }
    match args.first() {
        Some(Expr::Call(f, _)) => Ok(Expr::Call(f.clone(), args[1..].to_vec())),
        _ if args.len() == 1 => Ok(args.remove(0)),
        _ => Err(format!("cannot run {toks:?}")),
    }
}

/// Parses pieces into nodes until one of `stops` (returned) or the end.
fn parse(
    pieces: &[(bool, String)],
    pos: &mut usize,
    stops: &[&str],
) -> Result<(Vec<Node>, Option<String>), String> {
    let mut nodes = Vec::new();
    while *pos < pieces.len() {
        let (action, text) = &pieces[*pos];
        *pos += 1;
        if !action {
            if !text.is_empty() {
                nodes.push(Node::Text(text.clone()));
            }
            continue;
        }
        let word = text.split_whitespace().next().unwrap_or("");
        if stops.contains(&word) {
            return Ok((nodes, Some(text.clone())));
        }
        let toks = tokens(text)?;
        match word {
            "if" => {
                let mut cond = command(&toks[1..])?;
                let mut branches = Vec::new();
                let mut otherwise = Vec::new();
                loop {
                    let (body, stop) = parse(pieces, pos, &["else", "end"])?;
                    branches.push((cond, body));
                    let stop = stop.ok_or("if without end")?;
                    if stop == "end" {
                        break;
                    }
                    let t = tokens(&stop)?;
                    if t.get(1).map(String::as_str) == Some("if") {
                        cond = command(&t[2..])?;
                    } else {
                        let (body, stop) = parse(pieces, pos, &["end"])?;
                        stop.ok_or("else without end")?;
                        otherwise = body;
                        break;
                    }
                }
                nodes.push(Node::If(branches, otherwise));
            }
            "range" => {
                let (vars, expr) = match toks.iter().position(|t| t == ":=") {
                    Some(k) => (
                        toks[1..k].iter().filter(|t| *t != ",").cloned().collect(),
                        command(&toks[k + 1..])?,
                    ),
                    None => (vec![], command(&toks[1..])?),
                };
                let (body, stop) = parse(pieces, pos, &["else", "end"])?;
                let otherwise = match stop.as_deref() {
                    Some("else") => parse(pieces, pos, &["end"])?.0,
                    Some(_) => vec![],
                    None => return Err("range without end".into()),
                };
                nodes.push(Node::Range(vars, expr, body, otherwise));
            }
            _ if toks.get(1).map(String::as_str) == Some(":=") => {
                nodes.push(Node::Decl(toks[0].clone(), command(&toks[2..])?));
            }
            _ if toks.get(1).map(String::as_str) == Some("=") => {
                nodes.push(Node::Assign(toks[0].clone(), command(&toks[2..])?));
            }
            _ => nodes.push(Node::Out(command(&toks)?)),
        }
    }
    Ok((nodes, None))
}

struct Run<'a> {
    root: &'a V,
    vars: Vec<(String, V)>,
    out: String,
}

impl Run<'_> {
    fn eval(&self, e: &Expr, dot: &V) -> Result<V, String> {
        Ok(match e {
            Expr::Lit(v) => v.clone(),
            Expr::Dot(path) => path.iter().fold(dot.clone(), |v, f| v.field(f)),
            Expr::Var(name, path) => {
                let base = if name == "$" {
                    self.root.clone()
                } else {
                    self.vars
                        .iter()
                        .rev()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.clone())
                        .ok_or(format!("undefined variable {name}"))?
                };
                path.iter().fold(base, |v, f| v.field(f))
            }
            Expr::Call(f, args) => {
                let a: Vec<V> = args
                    .iter()
                    .map(|x| self.eval(x, dot))
                    .collect::<Result<_, _>>()?;
                match (f.as_str(), a.as_slice()) {
                    ("eq", [x, rest @ ..]) if !rest.is_empty() => {
                        V::Bool(rest.iter().any(|y| y == x))
                    }
                    ("ne", [x, y]) => V::Bool(x != y),
                    ("not", [x]) => V::Bool(!x.truthy()),
                    ("and", [..]) => a
                        .iter()
                        .find(|x| !x.truthy())
                        .or(a.last())
                        .cloned()
                        .unwrap_or(V::Nil),
                    ("or", [..]) => a
                        .iter()
                        .find(|x| x.truthy())
                        .or(a.last())
                        .cloned()
                        .unwrap_or(V::Nil),
                    ("len", [V::List(l)]) => V::Int(l.len() as i64),
                    ("len", [V::Str(s)]) => V::Int(s.len() as i64),
                    _ => return Err(format!("cannot call {f} with {a:?}")),
                }
            }
        })
    }

    fn exec(&mut self, nodes: &[Node], dot: &V) -> Result<(), String> {
        for n in nodes {
            match n {
                Node::Text(t) => self.out.push_str(t),
                Node::Out(e) => {
                    let v = self.eval(e, dot)?;
                    self.out.push_str(&v.print());
                }
                Node::Decl(name, e) => {
                    let v = self.eval(e, dot)?;
                    self.vars.push((name.clone(), v));
                }
                Node::Assign(name, e) => {
                    let v = self.eval(e, dot)?;
                    let slot = self
                        .vars
                        .iter_mut()
                        .rev()
                        .find(|(n, _)| n == name)
                        .ok_or(format!("assignment to undeclared {name}"))?;
                    slot.1 = v;
                }
                Node::If(branches, otherwise) => {
                    let mark = self.vars.len();
                    let mut done = false;
                    for (cond, body) in branches {
                        if self.eval(cond, dot)?.truthy() {
                            self.exec(body, dot)?;
                            done = true;
                            break;
                        }
                    }
                    if !done {
                        self.exec(otherwise, dot)?;
                    }
                    self.vars.truncate(mark);
                }
                Node::Range(vars, e, body, otherwise) => {
                    let V::List(items) = self.eval(e, dot)? else {
                        self.exec(otherwise, dot)?;
                        continue;
                    };
                    if items.is_empty() {
                        self.exec(otherwise, dot)?;
                    }
                    for (i, item) in items.iter().enumerate() {
                        let mark = self.vars.len();
                        match vars.as_slice() {
                            [] => {}
                            [v] => self.vars.push((v.clone(), item.clone())),
                            [k, v, ..] => {
                                self.vars.push((k.clone(), V::Int(i as i64)));
                                self.vars.push((v.clone(), item.clone()));
                            }
                        }
                        self.exec(body, item)?;
                        self.vars.truncate(mark);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Renders the Go template `src` on `data`.
pub(crate) fn render(src: &str, data: &V) -> Result<String, String> {
    let pieces = lex(src)?;
    let mut pos = 0;
    let (nodes, stop) = parse(&pieces, &mut pos, &[])?;
    if let Some(s) = stop {
        return Err(format!("unexpected {{{{ {s} }}}}"));
    }
    let mut run = Run {
        root: data,
        vars: vec![],
        out: String::new(),
    };
    run.exec(&nodes, data)?;
    Ok(run.out)
}
