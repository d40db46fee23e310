//! A model's Jinja chat template as an Ollama (Go `text/template`) template.
//!
//! Rather than translating Jinja source, the template is *observed*: it is rendered on probe
//! conversations whose contents are unique markers, and the text around each marker gives the
//! per-role prefix and suffix, the text before the first message (BOS, a default system turn),
//! where a system prompt goes (its own turn, or folded into the first user message) and the
//! generation prompt. The structure found is then checked by rebuilding every probe from it and
//! comparing with the Jinja render; a template whose output depends on the conversation in
//! other ways (counting turns, tool calls, dates) does not fit and is refused by name.
//!
//! Ollama renders the whole conversation with the template and lets the model continue, so the
//! Go template must equal the Jinja render with `add_generation_prompt = true`. Ollama's
//! variables: `.System` (all system messages joined), `.Messages` with `.Role` and `.Content`.

use serde_json::{Value, json};

use crate::chat::ChatTemplate;
use crate::{InferError, Result};

/// Marker contents: no whitespace (trimming leaves them whole), nothing a template matches on.
const SYS: &str = "GBXSYSTEM0";
const USERS: [&str; 3] = ["GBXUSER1", "GBXUSER2", "GBXUSER3"];
const ASSISTANTS: [&str; 2] = ["GBXASSISTANT1", "GBXASSISTANT2"];
const BOS: &str = "GBXBOS";

/// Where the system prompt goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemForm {
    /// The template refuses a system message: Ollama's system prompt is not shown to the model.
    Unsupported,
    /// A turn of its own before the first message: `prefix + system + suffix`, or `default`
    /// (possibly empty) when there is none.
    Turn {
        /// Text before the system prompt.
        prefix: String,
        /// Text after it.
        suffix: String,
        /// What the template writes when the conversation has no system message.
        default: String,
    },
    /// Inside the first user message, after the user prefix: `prefix + system + suffix` and
    /// then the user's text.
    FoldedIntoFirstUser {
        /// Text before the system prompt.
        prefix: String,
        /// Text between the system prompt and the user's text.
        suffix: String,
    },
}

/// The per-role structure of a chat template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnStructure {
    /// Text at the very start that the Go template writes (the BOS token when the runtime does
    /// not add one itself; otherwise empty).
    pub head: String,
    /// The system prompt's place.
    pub system: SystemForm,
    /// User turn: prefix and suffix around the content.
    pub user: (String, String),
    /// Assistant turn: prefix and suffix around the content.
    pub assistant: (String, String),
    /// Text after the last user message that cues the assistant.
    pub generation: String,
    /// The template trims whitespace around message contents (Ollama passes them as given).
    pub trims_content: bool,
    /// The BOS token the Jinja template writes first and the Go template leaves to the runtime.
    pub stripped_bos: Option<String>,
}

/// One message of a conversation (`role`, `content`).
pub type Message<'a> = (&'a str, &'a str);

fn err(source: &str, message: String) -> InferError {
    InferError::Template {
        source_name: source.to_string(),
        message: format!("cannot be written as an Ollama template: {message}"),
    }
}

/// Renders `msgs` with the Jinja template.
fn jinja(t: &ChatTemplate, msgs: &[Message<'_>], generation: bool) -> Result<String> {
    let msgs: Vec<Value> = msgs
        .iter()
        .map(|(r, c)| json!({"role": r, "content": c}))
        .collect();
    t.render(&msgs, generation, &serde_json::Map::new())
}

/// The probe conversations: user/assistant alternating, ending with a user message, with
/// `turns` user messages.
fn probe(system: bool, turns: usize) -> Vec<Message<'static>> {
    let mut out = Vec::new();
    if system {
        out.push(("system", SYS));
    }
    for i in 0..turns {
        if i > 0 {
            out.push(("assistant", ASSISTANTS[i - 1]));
        }
        out.push(("user", USERS[i]));
    }
    out
}

/// The text between consecutive markers of `text`: `markers.len() + 1` pieces, or `None` when a
/// marker is missing, repeated or out of order.
fn split(text: &str, markers: &[&str]) -> Option<Vec<String>> {
    let mut pieces = Vec::new();
    let mut rest = text;
    for m in markers {
        if text.matches(m).count() != 1 {
            return None;
        }
        let i = rest.find(m)?;
        pieces.push(rest[..i].to_string());
        rest = &rest[i + m.len()..];
    }
    pieces.push(rest.to_string());
    Some(pieces)
}

/// `k`, moved back to the start of a special token (`<|…|>`, `[INST]`) that it would cut.
fn unsplit(s: &str, k: usize) -> usize {
    let head = &s[..k];
    let mut k = k;
    for (open, close) in [('<', '>'), ('[', ']')] {
        if let Some(o) = head.rfind(open)
            && head.rfind(close).is_none_or(|c| c < o)
        {
            k = k.min(o);
        }
    }
    k
}

/// Up to 40 characters of `s` from byte `at`, with 20 before it.
fn excerpt(s: &str, at: usize) -> String {
    let start = s[..at].char_indices().rev().nth(19).map_or(0, |(i, _)| i);
    s[start..].chars().take(40).collect()
}

fn common_prefix_len(a: &str, b: &str) -> usize {
    a.char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map_or(a.len().min(b.len()), |((i, _), _)| i)
}

impl TurnStructure {
    /// Observes `t` (named `source` in errors). `bos` is the tokenizer's BOS token; with
    /// `runtime_adds_bos` a BOS the template writes first is left out of the Go template, since
    /// the runtime adds one when it tokenizes the prompt.
    pub fn derive(
        t: &ChatTemplate,
        source: &str,
        bos: Option<&str>,
        runtime_adds_bos: bool,
    ) -> Result<Self> {
        let fail = |m: String| err(source, m);
        let markers3 = [USERS[0], ASSISTANTS[0], USERS[1], ASSISTANTS[1], USERS[2]];
        let full = jinja(t, &probe(false, 3), true)?;
        let p = split(&full, &markers3).ok_or_else(|| {
            fail("message contents do not appear verbatim and in order in its output".into())
        })?;
        let (head, g1, g2, g3, g4, tail) = (&p[0], &p[1], &p[2], &p[3], &p[4], &p[5]);
        if g1 != g3 || g2 != g4 {
            return Err(fail(
                "the text between messages changes along the conversation".into(),
            ));
        }
        // Where the user suffix ends and the assistant prefix (or generation prompt) begins:
        // the text a conversation ending with a user message ends with, without the cue.
        let bare_end = jinja(t, &probe(false, 1), false)
            .ok()
            .and_then(|s| split(&s, &[USERS[0]]).map(|p| p[1].clone()))
            .unwrap_or_default();
        let k = unsplit(
            g1,
            common_prefix_len(g1, tail).min(common_prefix_len(g1, &bare_end)),
        );
        let user_suffix = g1[..k].to_string();
        let assistant_prefix = g1[k..].to_string();
        let generation = tail[k..].to_string();
        // Where the assistant suffix ends and the next user prefix begins: the user prefix is
        // also what the head ends with.
        let after_assistant = jinja(
            t,
            &[("user", USERS[0]), ("assistant", ASSISTANTS[0])],
            false,
        )
        .ok()
        .and_then(|s| split(&s, &[USERS[0], ASSISTANTS[0]]).map(|p| p[2].clone()))
        .unwrap_or_default();
        let start = common_prefix_len(g2, &after_assistant);
        let backed = unsplit(g2, start);
        let k = std::iter::once(backed)
            .chain(start..=g2.len())
            .find(|&k| g2.is_char_boundary(k) && head.ends_with(&g2[k..]))
            .unwrap_or(g2.len());
        let assistant_suffix = g2[..k].to_string();
        let user_prefix = g2[k..].to_string();
        let before = &head[..head.len() - user_prefix.len()];
        // A BOS counts as such only when the template writes `bos_token` there (SmolLM2's
        // BOS is `<|im_start|>`, which its template writes as text).
        let writes_bos = {
            let mut extra = serde_json::Map::new();
            extra.insert("bos_token".into(), Value::String(BOS.into()));
            let msgs = vec![json!({"role": "user", "content": USERS[0]})];
            t.render(&msgs, true, &extra)?.starts_with(BOS)
        };
        let bos = bos.filter(|b| !b.is_empty() && writes_bos);
        let (lead, before) = match bos.and_then(|b| before.strip_prefix(b).map(|r| (b, r))) {
            Some((b, rest)) => (b.to_string(), rest.to_string()),
            None => (String::new(), before.to_string()),
        };
        let system = Self::system_form(t, &lead, &before, head, &full, source)?;
        let trims_content = {
            let padded = jinja(t, &[("user", &format!(" {} \n", USERS[0]))], true)?;
            !padded.contains(&format!(" {} \n", USERS[0]))
        };
        let strip = runtime_adds_bos && !lead.is_empty();
        let s = Self {
            head: if strip { String::new() } else { lead.clone() },
            system,
            user: (user_prefix, user_suffix),
            assistant: (assistant_prefix, assistant_suffix),
            generation,
            trims_content,
            stripped_bos: strip.then_some(lead),
        };
        s.check(t, source)?;
        Ok(s)
    }

    /// Finds where a system prompt goes, from the render with one.
    fn system_form(
        t: &ChatTemplate,
        lead: &str,
        before: &str,
        head: &str,
        full: &str,
        source: &str,
    ) -> Result<SystemForm> {
        let Ok(with) = jinja(t, &probe(true, 3), true) else {
            return Ok(SystemForm::Unsupported);
        };
        let fail = |m: &str| err(source, m.to_string());
        let p = split(&with, &[SYS, USERS[0]]).ok_or_else(|| {
            fail("the system prompt does not appear verbatim before the first user message")
        })?;
        let after_user = |s: &str| s.find(USERS[0]).map(|i| s[i..].to_string());
        if after_user(&with) != after_user(full) {
            return Err(fail(
                "a system prompt changes the conversation after the first user message",
            ));
        }
        let (a, b) = (&p[0], &p[1]);
        let Some(a) = a.strip_prefix(lead) else {
            return Err(fail(
                "the text before a system prompt is not the usual start",
            ));
        };
        let user_prefix = &head[lead.len() + before.len()..];
        if let Some(suffix) = b.strip_suffix(user_prefix) {
            return Ok(SystemForm::Turn {
                prefix: a.to_string(),
                suffix: suffix.to_string(),
                default: before.to_string(),
            });
        }
        if let Some(prefix) = a.strip_prefix(&format!("{before}{user_prefix}")) {
            return Ok(SystemForm::FoldedIntoFirstUser {
                prefix: prefix.to_string(),
                suffix: b.to_string(),
            });
        }
        Err(fail(
            "the system prompt is neither a turn of its own nor part of the first user message",
        ))
    }

    /// Rebuilds every probe conversation from the structure and compares it with the Jinja
    /// render (BOS stripped as the Go template leaves it out).
    fn check(&self, t: &ChatTemplate, source: &str) -> Result<()> {
        for system in [false, true] {
            if system && self.system == SystemForm::Unsupported {
                continue;
            }
            for turns in 1..=3 {
                let msgs = probe(system, turns);
                let want = self.expected(&jinja(t, &msgs, true)?);
                let got = self.render(&msgs);
                if got != want {
                    return Err(err(
                        source,
                        format!(
                            "its output for {} user turn(s){} does not follow one pattern per role: \
                             it writes {:?} where that pattern writes {:?} (does it count turns or \
                             look at the contents?)",
                            turns,
                            if system { " with a system prompt" } else { "" },
                            excerpt(&want, common_prefix_len(&want, &got)),
                            excerpt(&got, common_prefix_len(&want, &got)),
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The Jinja render `jinja` as Ollama should reproduce it: without the BOS the runtime adds.
    pub fn expected(&self, jinja: &str) -> String {
        match &self.stripped_bos {
            Some(b) => jinja.strip_prefix(b.as_str()).unwrap_or(jinja).to_string(),
            None => jinja.to_string(),
        }
    }

    /// What the Go template renders for `msgs` under Ollama's rules: system messages are
    /// joined into `.System`, the rest rendered in order, then the generation prompt.
    pub fn render(&self, msgs: &[Message<'_>]) -> String {
        let system: Vec<&str> = msgs
            .iter()
            .filter(|(r, _)| *r == "system")
            .map(|(_, c)| *c)
            .collect();
        let mut pending = system.join("\n\n");
        let mut out = self.head.clone();
        if let SystemForm::Turn {
            prefix,
            suffix,
            default,
        } = &self.system
        {
            if pending.is_empty() {
                out.push_str(default);
            } else {
                out.push_str(&format!("{prefix}{pending}{suffix}"));
            }
        }
        for (role, content) in msgs {
            match *role {
                "user" => {
                    out.push_str(&self.user.0);
                    if let SystemForm::FoldedIntoFirstUser { prefix, suffix } = &self.system
                        && !pending.is_empty()
                    {
                        out.push_str(&format!("{prefix}{pending}{suffix}"));
                        pending.clear();
                    }
                    out.push_str(content);
                    out.push_str(&self.user.1);
                }
                "assistant" => {
                    out.push_str(&self.assistant.0);
                    out.push_str(content);
                    out.push_str(&self.assistant.1);
                }
                _ => {}
            }
        }
        out.push_str(&self.generation);
        out
    }

    /// The turn terminators worth stopping on: the assistant suffix and the user suffix,
    /// without surrounding whitespace.
    pub fn terminators(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in [&self.assistant.1, &self.user.1] {
            let s = s.trim();
            if !s.is_empty() && !out.iter().any(|o| o == s) {
                out.push(s.to_string());
            }
        }
        out
    }

    /// The Ollama (Go `text/template`) template.
    pub fn go_template(&self) -> String {
        let mut g = GoWriter::default();
        g.lit(&self.head);
        match &self.system {
            SystemForm::Turn {
                prefix,
                suffix,
                default,
            } => {
                g.act("if .System", false);
                g.lit(prefix);
                g.act(".System", false);
                g.lit(suffix);
                if !default.is_empty() {
                    g.act("else", false);
                    g.lit(default);
                }
                g.act("end", false);
            }
            SystemForm::FoldedIntoFirstUser { .. } => g.act("$system := .System", true),
            SystemForm::Unsupported => {}
        }
        g.act("range .Messages", true);
        g.act("if eq .Role \"user\"", true);
        g.lit(&self.user.0);
        if let SystemForm::FoldedIntoFirstUser { prefix, suffix } = &self.system {
            g.act("if $system", false);
            g.lit(prefix);
            g.act("$system", false);
            g.lit(suffix);
            g.act("$system = \"\"", false);
            g.act("end", false);
        }
        g.act(".Content", false);
        g.lit(&self.user.1);
        g.act("else if eq .Role \"assistant\"", true);
        g.lit(&self.assistant.0);
        g.act(".Content", false);
        g.lit(&self.assistant.1);
        g.act("end", true);
        g.act("end", true);
        g.lit(&self.generation);
        g.out
    }
}

/// Writes Go template text: literals as they are (quoted as Go strings when they hold `{{`,
/// `"""` or control characters, which neither the template nor a Modelfile would keep), actions
/// on new lines when the trim marker `{{-` can only remove the layout newline.
#[derive(Default)]
struct GoWriter {
    out: String,
    last_lit_ends_space: bool,
}

impl GoWriter {
    fn lit(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        let plain = !s.contains("{{")
            && !s.contains("\"\"\"")
            && !s.ends_with('"')
            && s.chars().all(|c| c == '\n' || c == ' ' || !c.is_control());
        if plain {
            self.out.push_str(s);
            self.last_lit_ends_space = s.ends_with(char::is_whitespace);
        } else {
            self.out.push_str(&format!("{{{{ {} }}}}", go_quote(s)));
            self.last_lit_ends_space = false;
        }
    }

    /// `{{ a }}`; with `newline`, on a line of its own as `{{- a }}` when that trims only the
    /// newline.
    fn act(&mut self, a: &str, newline: bool) {
        if newline && !self.last_lit_ends_space {
            if !self.out.is_empty() {
                self.out.push('\n');
            }
            self.out.push_str(&format!("{{{{- {a} }}}}"));
        } else {
            self.out.push_str(&format!("{{{{ {a} }}}}"));
        }
        self.last_lit_ends_space = false;
    }
}

/// `s` as a Go interpreted string literal.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
