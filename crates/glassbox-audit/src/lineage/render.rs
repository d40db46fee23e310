//! The lineage section of the terminal table, the Markdown and the HTML report.

use std::fmt::Write as _;

use super::{Base, BaseStatus, Lineage};

fn status_text(b: &Base) -> String {
    match (b.status, b.level) {
        (BaseStatus::Audited, Some(level)) => format!("audited, {}", level.label()),
        (BaseStatus::Audited, None) => "audited".into(),
        (s, _) => format!("not checked: {}", s.why_unchecked()),
    }
}

fn opening(l: &Lineage) -> &'static str {
    if l.adapter {
        "a PEFT adapter: its weights are an update of its base's, and running it needs the base"
    } else {
        "derived from a base model, whose terms bind it"
    }
}

/// Lines for the terminal table (each ends with a newline).
pub(crate) fn table(l: &Lineage) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "\nlineage          {}", opening(l));
    for (b, said) in l.bases.iter().zip(&l.inherited) {
        let _ = writeln!(
            o,
            "  base `{}`  {}  [{}]",
            b.name,
            status_text(b),
            b.where_named()
        );
        let _ = writeln!(o, "      - {said}");
    }
    for n in &l.notes {
        let _ = writeln!(o, "  note: {n}");
    }
    o
}

/// A Markdown section; `esc` escapes table and line characters.
pub(crate) fn markdown(l: &Lineage, esc: impl Fn(&str) -> String) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "\n## Lineage\n\n{}\n", esc(opening(l)));
    for (b, said) in l.bases.iter().zip(&l.inherited) {
        let _ = writeln!(
            o,
            "- **base `{}`** ({}; {}): {}",
            esc(&b.name),
            esc(&status_text(b)),
            esc(&b.where_named()),
            esc(said)
        );
    }
    for n in &l.notes {
        let _ = writeln!(o, "- note: {}", esc(n));
    }
    o
}

/// An HTML section; `esc` escapes text.
pub(crate) fn html(l: &Lineage, esc: impl Fn(&str) -> String) -> String {
    let mut o = String::new();
    let _ = write!(o, "<h2>Lineage</h2><p>{}</p><ul>", esc(opening(l)));
    for (b, said) in l.bases.iter().zip(&l.inherited) {
        let _ = write!(
            o,
            "<li><b>base <code>{}</code></b> ({}; <code>{}</code>): {}</li>",
            esc(&b.name),
            esc(&status_text(b)),
            esc(&b.where_named()),
            esc(said)
        );
    }
    for n in &l.notes {
        let _ = write!(o, "<li>note: {}</li>", esc(n));
    }
    o.push_str("</ul>");
    o
}
