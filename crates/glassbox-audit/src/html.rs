//! The audit report as one HTML page: what `glassbox audit --format html` writes and what
//! `glassbox serve` shows at `/audit`. Self-contained (styles inline, no scripts, nothing fetched):
//! the level on the spectrum, the four freedoms with their reasons and the licence sentences
//! that decide them, quoted with file and line; MOF class and OSAID beside it; what the next
//! level is missing; every component with its evidence; licences, weights, findings, lineage;
//! and the report itself, its MOT file and its CycloneDX ML-BOM as downloads (`data:` links, so
//! a report saved to disk keeps them).
//!
//! Evidence that names a file of the target links to it through [`HtmlOptions::file_link`]: for
//! a file report, the file on the Hub (`hf:` targets) or beside the report (local targets); for
//! the server, its file viewer, which highlights the line.

use std::fmt::Write as _;

use crate::evidence::Evidence;
use crate::report::{Report, to_cyclonedx};
use crate::snapshot::TargetKind;
use crate::verdict::{Level, Reason, Status};

/// How the page links and what it adds.
pub struct HtmlOptions<'a> {
    /// The address of a file of the target (path relative to the target, 1-based line), or
    /// `None` to show it as text.
    pub file_link: &'a dyn Fn(&str, Option<usize>) -> Option<String>,
    /// Markup placed first in the body (a server's navigation); empty in a file.
    pub header: &'a str,
}

/// The page as `glassbox audit --format html` writes it: files of a Hub target link to the
/// Hub, files of a local target to their path as the audit was given it.
pub fn to_html(r: &Report) -> String {
    let target = r.target.clone();
    let link = move |path: &str, line: Option<usize>| -> Option<String> {
        match target.kind {
            TargetKind::Hub => {
                let repo = target.id.strip_prefix("hf:").unwrap_or(&target.id);
                let repo = repo.split('@').next().unwrap_or(repo);
                let rev = target.revision.as_deref().unwrap_or("main");
                Some(format!(
                    "https://huggingface.co/{repo}/blob/{rev}/{}{}",
                    url_encode(path),
                    line.map_or(String::new(), |l| format!("#L{l}"))
                ))
            }
            TargetKind::Directory | TargetKind::Bundle => Some(format!(
                "{}/{}",
                url_encode(target.id.trim_end_matches('/')),
                url_encode(path)
            )),
            TargetKind::Mot => None,
        }
    };
    to_html_with(
        r,
        &HtmlOptions {
            file_link: &link,
            header: "",
        },
    )
}

/// The page with the given links and header.
pub fn to_html_with(r: &Report, o: &HtmlOptions<'_>) -> String {
    let mut h = String::with_capacity(32 * 1024);
    let title = escape(&r.target.id);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\">\
         <title>Openness audit: {title}</title><style>{STYLE}</style></head><body>{}<main>",
        o.header
    );
    let _ = write!(
        h,
        "<h1>Openness audit: <code>{title}</code></h1><p class=\"badge\">{}</p>",
        crate::report::badge_svg(r)
    );
    if let Some(name) = &r.target.name {
        let _ = write!(h, "<p>Release: <b>{}</b></p>", escape(name));
    }
    spectrum(&mut h, r);
    if let Some(m) = &r.replay {
        let _ = write!(
            h,
            "<p class=\"replay\">Replay: {}</p>",
            escape(&m.describe())
        );
    }
    freedoms(&mut h, r, o);
    next_level(&mut h, r);
    mof_osaid(&mut h, r);
    components(&mut h, r, o);
    licences(&mut h, r, o);
    weights(&mut h, r, o);
    findings(&mut h, r, o);
    if let Some(l) = &r.lineage {
        h.push_str("<section>");
        h.push_str(&crate::lineage::render::html(l, escape));
        h.push_str("</section>");
    }
    exports(&mut h, r);
    let _ = writeln!(
        h,
        "<footer><p>glassbox {} · report schema {}</p></footer></main></body></html>",
        r.tool.version, r.schema_version
    );
    h
}

const STYLE: &str = "\
:root{--fg:#1b1b1f;--bg:#fff;--muted:#55565e;--panel:#f3f4f6;--border:#c4c6cc;--holds:#1e6b34;\
--fails:#a1261e;--unknown:#7a5d00;--accent:#0b57d0;--mark:#fff3b0}\
@media (prefers-color-scheme:dark){:root{--fg:#e6e6ea;--bg:#131417;--muted:#b0b2ba;--panel:#1e2024;\
--border:#4a4d55;--holds:#7fd18f;--fails:#ff8a80;--unknown:#f3cf63;--accent:#8ab4f8;--mark:#4d4300}}\
body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,sans-serif}\
main{max-width:72rem;margin:0 auto;padding:1rem 1.5rem}a{color:var(--accent)}\
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}code{font-size:.9em}\
table{border-collapse:collapse;width:100%;margin:.5rem 0}caption{text-align:left;font-weight:600}\
td,th{border:1px solid var(--border);padding:.35rem .5rem;text-align:left;vertical-align:top;font-size:.92rem;overflow-wrap:anywhere}\
th{background:var(--panel)}.holds{color:var(--holds)}.fails{color:var(--fails);font-weight:700}\
.unknown{color:var(--unknown)}ol.spectrum{display:flex;flex-wrap:wrap;gap:.25rem;list-style:none;padding:0}\
ol.spectrum li{padding:.4rem .8rem;border:1px solid var(--border);border-radius:1rem;color:var(--muted)}\
ol.spectrum li.reached{color:var(--fg);background:var(--panel)}\
ol.spectrum li[aria-current]{border:2px solid var(--accent);font-weight:700;color:var(--fg)}\
.freedoms{display:grid;grid-template-columns:repeat(auto-fit,minmax(16rem,1fr));gap:.75rem}\
.freedom{border:1px solid var(--border);border-radius:8px;padding:.5rem .75rem;overflow-wrap:anywhere}\
.freedom h3{margin:.2rem 0;font-size:1.05rem}blockquote{margin:.3rem 0;padding:.2rem .6rem;\
border-left:4px solid var(--fails);background:var(--mark)}ul.ev{margin:.2rem 0;padding-left:1.2rem}\
.exports a{display:inline-block;margin:.25rem .5rem .25rem 0;padding:.35rem .7rem;border:1px solid var(--accent);\
border-radius:6px;text-decoration:none}footer{color:var(--muted);margin-top:2rem}\
.nav{display:flex;gap:1rem;align-items:center;padding:.5rem 1.5rem;border-bottom:1px solid var(--border)}\
.nav form{display:flex;gap:.5rem;margin-left:auto}.nav input{min-width:18rem}\
:focus-visible{outline:3px solid #e37400;outline-offset:2px}";

impl std::fmt::Debug for HtmlOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HtmlOptions")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

/// `s` escaped for HTML text and attribute values.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// `path` percent-encoded for a URL (a path, or a query value): everything but ASCII letters,
/// digits and `-_.~/`.
pub fn url_encode(path: &str) -> String {
    let mut o = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            o.push(b as char);
        } else {
            let _ = write!(o, "%{b:02X}");
        }
    }
    o
}

fn status_class(s: Status) -> (&'static str, &'static str) {
    match s {
        Status::Holds => ("holds", "holds"),
        Status::Fails => ("fails", "fails"),
        Status::Unknown => ("unknown", "unknown"),
    }
}

/// One piece of evidence as markup: a link where it has an address.
fn evidence(e: &Evidence, o: &HtmlOptions<'_>) -> String {
    match e {
        Evidence::File { path, line } => match (o.file_link)(path, *line) {
            Some(href) => format!(
                "<a href=\"{}\"><code>{}</code></a>",
                escape(&href),
                escape(&e.to_string())
            ),
            None => format!("<code>{}</code>", escape(&e.to_string())),
        },
        Evidence::Url { url } if url.starts_with("https://") || url.starts_with("http://") => {
            format!(
                "<a href=\"{}\" rel=\"noreferrer\">{}</a>",
                escape(url),
                escape(url)
            )
        }
        _ => format!("<code>{}</code>", escape(&e.to_string())),
    }
}

fn evidence_list(ev: &[Evidence], o: &HtmlOptions<'_>, max: usize) -> String {
    if ev.is_empty() {
        return String::from("—");
    }
    let mut parts: Vec<String> = ev.iter().take(max).map(|e| evidence(e, o)).collect();
    if ev.len() > max {
        parts.push(format!("and {} more", ev.len() - max));
    }
    parts.join(", ")
}

fn spectrum(h: &mut String, r: &Report) {
    h.push_str(
        "<h2 id=\"level\">Level</h2><ol class=\"spectrum\" aria-label=\"The openness spectrum\">",
    );
    for l in [
        Level::Closed,
        Level::OpenWeight,
        Level::OpenSourceAi,
        Level::RadicalOpenness,
    ] {
        let reached = l <= r.level;
        let current = l == r.level;
        let _ = write!(
            h,
            "<li class=\"{}\"{}>{}{}</li>",
            if reached { "reached" } else { "" },
            if current {
                " aria-current=\"step\""
            } else {
                ""
            },
            l.label(),
            if current { " (this release)" } else { "" }
        );
    }
    h.push_str("</ol>");
    let _ = write!(
        h,
        "<p>Level: <b id=\"level-text\">{}</b></p>",
        escape(&r.level_text())
    );
}

/// The clause a reason names: its sentence quoted with file and line when the audit found it
/// in a licence text of the release, else the clause table's paraphrase with the licence's files.
fn quoted_clause(r: &Report, reason: &Reason, o: &HtmlOptions<'_>) -> String {
    let Some((lic, section)) = &reason.clause else {
        return String::new();
    };
    let found = r.licenses.iter().find_map(|l| {
        l.license
            .clauses
            .iter()
            .find(|c| &c.license == lic && &c.section == section)
            .map(|c| (l, c))
    });
    match found {
        Some((_, c)) if c.quote.is_some() => {
            let place = c.file.as_ref().map_or(String::new(), |f| {
                evidence(
                    &Evidence::File {
                        path: f.clone(),
                        line: c.line,
                    },
                    o,
                )
            });
            format!(
                "<blockquote>{}</blockquote><p>{place}</p>",
                escape(c.quote.as_deref().unwrap_or_default())
            )
        }
        Some((l, c)) => format!(
            "<p class=\"clause\">§{} of <code>{}</code>: {} <small>{}</small></p>",
            escape(section),
            escape(lic),
            escape(&c.summary),
            evidence_list(&l.evidence, o, 2)
        ),
        None => format!(
            "<p class=\"clause\">Clause: <code>{} §{}</code></p>",
            escape(lic),
            escape(section)
        ),
    }
}

fn freedoms(h: &mut String, r: &Report, o: &HtmlOptions<'_>) {
    h.push_str("<h2 id=\"freedoms\">The four freedoms</h2><div class=\"freedoms\">");
    for name in ["run", "study", "redistribute", "modify"] {
        let Some(v) = r.freedoms.get(name) else {
            continue;
        };
        let (cls, word) = status_class(v.status);
        let _ = write!(
            h,
            "<section class=\"freedom\" aria-labelledby=\"f-{name}\"><h3 id=\"f-{name}\">{name}: <span class=\"{cls}\">{word}</span></h3>"
        );
        if v.reasons.is_empty() {
            h.push_str("<p>No reason recorded.</p>");
        }
        h.push_str("<ul class=\"ev\">");
        for reason in &v.reasons {
            let _ = write!(
                h,
                "<li>{}{}<br><small>{}</small></li>",
                escape(&reason.text),
                quoted_clause(r, reason, o),
                evidence_list(&reason.evidence, o, 4)
            );
        }
        h.push_str("</ul></section>");
    }
    h.push_str("</div>");
}

fn next_level(h: &mut String, r: &Report) {
    match r.next_level.level {
        Some(next) => {
            let _ = write!(h, "<h2 id=\"next\">Missing for {}</h2><ul>", next.label());
            for m in &r.next_level.missing {
                let _ = write!(h, "<li>{}</li>", escape(m));
            }
            h.push_str("</ul>");
        }
        None => {
            h.push_str("<h2 id=\"next\">Next level</h2><p>This is the top of the spectrum.</p>")
        }
    }
}

fn mof_osaid(h: &mut String, r: &Report) {
    h.push_str("<h2 id=\"mof\">MOF class and OSAID</h2><p>Separate judgements shown beside the level; they never decide it.</p>");
    let _ = write!(
        h,
        "<p>MOF class: <b>{}</b></p><table><caption>Progress towards each MOF class</caption><tr><th>class</th><th>progress</th><th>required components not counted</th></tr>",
        r.mof
            .class
            .map_or("none".to_string(), |c| format!("Class {c}"))
    );
    for class in ["III", "II", "I"] {
        let p = r.mof.progress.get(class).copied().unwrap_or(0.0);
        let blocking = r
            .mof
            .blocking
            .get(class)
            .map_or(String::new(), |b| escape(&b.join(", ")));
        let _ = write!(
            h,
            "<tr><td>Class {class}</td><td><progress max=\"100\" value=\"{p:.1}\" aria-label=\"Class {class} progress\"></progress> {p:.0} %</td><td>{}</td></tr>",
            if blocking.is_empty() {
                "—".into()
            } else {
                blocking
            }
        );
    }
    h.push_str("</table>");
    let _ = write!(
        h,
        "<p>OSAID 1.0: <b class=\"{}\">{}</b></p>",
        if r.osaid.conformant { "holds" } else { "fails" },
        if r.osaid.conformant {
            "conformant"
        } else {
            "not conformant"
        }
    );
    if !r.osaid.missing.is_empty() {
        h.push_str("<ul>");
        for m in &r.osaid.missing {
            let _ = write!(h, "<li>{}</li>", escape(m));
        }
        h.push_str("</ul>");
    }
}

fn components(h: &mut String, r: &Report, o: &HtmlOptions<'_>) {
    h.push_str("<h2 id=\"components\">Components</h2><table><tr><th>component</th><th>status</th><th>licence</th><th>licence from</th><th>found in</th></tr>");
    for c in &r.components {
        let lic = c.license.as_ref().map_or("—".to_string(), |l| {
            format!("{} <small>({})</small>", escape(&l.id), escape(&l.name))
        });
        let note = c.note.as_ref().map_or(String::new(), |n| {
            format!("<br><small>{}</small>", escape(n))
        });
        let _ = write!(
            h,
            "<tr><td>{}{note}</td><td>{}</td><td>{lic}</td><td>{}</td><td>{}</td></tr>",
            escape(c.name),
            crate::report::presence_word(c.presence),
            evidence_list(&c.license_evidence, o, 3),
            evidence_list(&c.evidence, o, 4)
        );
    }
    h.push_str("</table>");
}

fn licences(h: &mut String, r: &Report, o: &HtmlOptions<'_>) {
    if r.licenses.is_empty() {
        return;
    }
    h.push_str("<h2 id=\"licences\">Licences</h2><table><tr><th>licence</th><th>open</th><th>restricting clauses</th><th>where</th></tr>");
    for l in &r.licenses {
        let lic = &l.license;
        let mut clauses = String::new();
        for c in &lic.clauses {
            let quote = c.quote.as_ref().map_or(String::new(), |q| {
                let place = c.file.as_ref().map_or(String::new(), |f| {
                    evidence(
                        &Evidence::File {
                            path: f.clone(),
                            line: c.line,
                        },
                        o,
                    )
                });
                format!("<blockquote>{}</blockquote>{place}", escape(q))
            });
            let _ = write!(
                clauses,
                "<p>§{} ({}; breaks {}): {}</p>{quote}",
                escape(&c.section),
                escape(c.kind),
                escape(&c.breaks.join(", ")),
                escape(&c.summary)
            );
        }
        let _ = write!(
            h,
            "<tr><td>{} <small>({})</small>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&lic.id),
            escape(&lic.name),
            lic.changes.as_ref().map_or(String::new(), |_| {
                "<br><small>a known text with changes</small>".into()
            }),
            if lic.open { "yes" } else { "no" },
            if clauses.is_empty() {
                "—".into()
            } else {
                clauses
            },
            evidence_list(&l.evidence, o, 4)
        );
    }
    h.push_str("</table>");
}

fn weights(h: &mut String, r: &Report, o: &HtmlOptions<'_>) {
    if r.weights.is_empty() {
        return;
    }
    h.push_str("<h2 id=\"weights\">Weight files</h2><table><tr><th>file</th><th>format</th><th>size</th><th>parameters</th><th>checkpoint</th></tr>");
    for w in &r.weights {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{:?}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            evidence(&Evidence::file(w.path.clone()), o),
            w.format,
            w.size.map_or("—".into(), |s| s.to_string()),
            w.parameters.map_or("—".into(), |p| p.to_string()),
            if w.intermediate {
                "intermediate"
            } else {
                "final"
            }
        );
    }
    h.push_str("</table>");
}

fn findings(h: &mut String, r: &Report, o: &HtmlOptions<'_>) {
    if r.findings.is_empty() {
        return;
    }
    h.push_str("<h2 id=\"findings\">Findings</h2><ul>");
    for f in &r.findings {
        let _ = write!(
            h,
            "<li><b>{:?}</b> ({:?}): {} <small>{}</small></li>",
            f.severity,
            f.kind,
            escape(&f.message),
            evidence_list(&f.evidence, o, 3)
        );
    }
    h.push_str("</ul>");
}

fn exports(h: &mut String, r: &Report) {
    let stem: String = r
        .target
        .id
        .rsplit(['/', ':'])
        .find(|s| !s.is_empty())
        .unwrap_or("release")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let json = serde_json::to_string_pretty(r).unwrap_or_default();
    let bom = serde_json::to_string_pretty(&to_cyclonedx(r)).unwrap_or_default();
    let mot = crate::report::mot_export(r);
    h.push_str("<h2 id=\"exports\">Exports</h2><p class=\"exports\">");
    for (label, file, mime, body) in [
        (
            "Report (JSON)",
            format!("{stem}.audit.json"),
            "application/json",
            json,
        ),
        (
            "MOT model file (YAML)",
            format!("{stem}.mot.yml"),
            "application/yaml",
            mot,
        ),
        (
            "CycloneDX ML-BOM (JSON)",
            format!("{stem}.cdx.json"),
            "application/json",
            bom,
        ),
    ] {
        let _ = write!(
            h,
            "<a download=\"{}\" href=\"data:{mime};base64,{}\">{label}</a>",
            escape(&file),
            base64(body.as_bytes())
        );
    }
    h.push_str("</p>");
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut o = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        o.push(A[(n >> 18) as usize & 63] as char);
        o.push(A[(n >> 12) as usize & 63] as char);
        o.push(if c.len() > 1 {
            A[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        o.push(if c.len() > 2 {
            A[n as usize & 63] as char
        } else {
            '='
        });
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), enc);
        }
    }

    #[test]
    fn paths_are_escaped_for_urls_and_markup() {
        assert_eq!(url_encode("a b/c#d.txt"), "a%20b/c%23d.txt");
        assert_eq!(
            escape("<a href=\"x\">'&"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
        );
    }
}
