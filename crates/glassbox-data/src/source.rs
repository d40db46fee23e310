//! Reading sources as a stream of raw documents: files and directories, plain, gzip or zstd,
//! text (cut by file, line, paragraph or group pattern) or JSON Lines. Every input file is hashed
//! (SHA-256 of its bytes as stored) while it is read, for the datasheet and the manifest.
//!
//! Memory is bounded: lines are read with a byte limit (a longer line is cut and its document
//! marked `too_long`), and only the current document is held.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::config::{CurateConfig, Format, OnReadError, Source, Split};
use crate::{DataError, Result};

/// A document as read, before any processing.
#[derive(Debug, Clone)]
pub struct RawDoc {
    /// Index of its source in the configuration.
    pub source: usize,
    /// Position within the source (0-based, over the source's files in path order).
    pub position: u64,
    /// The file it came from, relative to the source path.
    pub file: String,
    /// Its bytes (not yet checked as UTF-8).
    pub bytes: Vec<u8>,
    /// JSONL fields other than `text`.
    pub metadata: Option<Map<String, Value>>,
    /// A problem found while reading (filter name, reason): the document is removed with it.
    pub problem: Option<(&'static str, String)>,
}

/// One input file, as read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InputFile {
    /// Source name.
    pub source: String,
    /// Path relative to the source path (the file name for a single file).
    pub path: String,
    /// SHA-256 of its bytes as stored.
    pub sha256: String,
    /// Size as stored.
    pub bytes: u64,
}

/// A read error kept under `on_read_error = "record"`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReadProblem {
    /// Source name.
    pub source: String,
    /// File.
    pub path: String,
    /// What happened.
    pub message: String,
}

/// Files of a source: the file itself, or every regular, non-hidden file below a directory in
/// path order.
pub fn source_files(s: &Source) -> Result<Vec<(PathBuf, String)>> {
    let meta =
        std::fs::metadata(&s.path).map_err(|e| DataError::io("reading source", &s.path, e))?;
    if meta.is_file() {
        let name = s
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok(vec![(s.path.clone(), name)]);
    }
    let mut out = Vec::new();
    let mut stack = vec![s.path.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).map_err(|e| DataError::io("listing", &dir, e))? {
            let e = e.map_err(|e| DataError::io("listing", &dir, e))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let p = e.path();
            let ft = e.file_type().map_err(|e| DataError::io("listing", &p, e))?;
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() {
                let rel = p
                    .strip_prefix(&s.path)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((p, rel));
            }
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// Hashes the bytes that pass through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Reads one line (without its `\n`, and without a trailing `\r`) of at most `max` bytes; a
/// longer line is cut and the rest skipped. Returns `None` at the end of input.
fn read_line<R: BufRead>(
    r: &mut R,
    max: usize,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut truncated = false;
    loop {
        let available = r.fill_buf()?;
        if available.is_empty() {
            return Ok(if buf.is_empty() && !truncated {
                None
            } else {
                Some(truncated)
            });
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..i], Some(i + 1)),
            None => (available, None),
        };
        let room = max.saturating_sub(buf.len());
        if chunk.len() > room {
            buf.extend_from_slice(&chunk[..room]);
            truncated = true;
        } else {
            buf.extend_from_slice(chunk);
        }
        let used = done.unwrap_or(available.len());
        r.consume(used);
        if done.is_some() {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(Some(truncated));
        }
    }
}

/// Streams the documents of every source in configuration order, calling `emit` for each.
/// Returns the input files (with hashes) and, under `on_read_error = "record"`, the read errors.
pub fn read_all(
    cfg: &CurateConfig,
    emit: &mut dyn FnMut(RawDoc) -> Result<()>,
) -> Result<(Vec<InputFile>, Vec<ReadProblem>)> {
    let mut inputs = Vec::new();
    let mut problems = Vec::new();
    for (si, s) in cfg.sources.iter().enumerate() {
        let mut position = 0u64;
        let strip = match &s.strip_pattern {
            Some(p) => Some(
                regex::Regex::new(p)
                    .map_err(|e| DataError::Request(format!("source {}: {e}", s.name)))?,
            ),
            None => None,
        };
        let group = match (&s.split, &s.group_pattern) {
            (Some(Split::Group), Some(p)) => Some(
                regex::Regex::new(p)
                    .map_err(|e| DataError::Request(format!("source {}: {e}", s.name)))?,
            ),
            _ => None,
        };
        for (path, rel) in source_files(s)? {
            let file =
                std::fs::File::open(&path).map_err(|e| DataError::io("opening", &path, e))?;
            let mut hashing = Hashing {
                inner: file,
                hasher: Sha256::new(),
                bytes: 0,
            };
            let before = position;
            let result = {
                let lower = rel.to_lowercase();
                let reader: Box<dyn Read + '_> = if lower.ends_with(".gz") {
                    Box::new(flate2::read::MultiGzDecoder::new(&mut hashing))
                } else if lower.ends_with(".zst") {
                    match ruzstd::decoding::StreamingDecoder::new(&mut hashing) {
                        Ok(d) => Box::new(d),
                        Err(e) => {
                            let err = DataError::Input {
                                path: path.clone(),
                                message: format!("not a zstd stream: {e}"),
                            };
                            handle(cfg.on_read_error, err, s, &rel, &mut problems)?;
                            continue;
                        }
                    }
                } else {
                    Box::new(&mut hashing)
                };
                let format = s.format.unwrap_or_else(|| {
                    let stem = lower.trim_end_matches(".gz").trim_end_matches(".zst");
                    if stem.ends_with(".jsonl") || stem.ends_with(".ndjson") {
                        Format::Jsonl
                    } else {
                        Format::Text
                    }
                });
                let mut r = BufReader::with_capacity(1 << 16, reader);
                let mut ctx = Ctx {
                    cfg,
                    si,
                    s,
                    rel: &rel,
                    position: &mut position,
                    emit,
                    pack: None,
                };
                match format {
                    Format::Jsonl => read_jsonl(&mut r, &mut ctx),
                    Format::Text => {
                        ctx.pack = s.pack_words.map(|n| Pack {
                            min_words: n,
                            bytes: Vec::new(),
                            words: 0,
                        });
                        read_text(
                            &mut r,
                            &mut ctx,
                            s.split.unwrap_or(Split::File),
                            group.as_ref(),
                            strip.as_ref(),
                        )
                        .and_then(|()| ctx.flush_pack())
                    }
                }
            };
            // Drain what the decoder left unread so the hash covers the whole file.
            let _ = std::io::copy(&mut hashing, &mut std::io::sink());
            match result {
                Ok(()) => {}
                Err(e @ DataError::Input { .. }) => {
                    let err = match e {
                        DataError::Input { path: p, message } => DataError::Input {
                            path: p,
                            message: format!(
                                "{message} (after {} documents of this file)",
                                position - before
                            ),
                        },
                        other => other,
                    };
                    handle(cfg.on_read_error, err, s, &rel, &mut problems)?;
                }
                Err(e) => return Err(e),
            }
            inputs.push(InputFile {
                source: s.name.clone(),
                path: rel.clone(),
                sha256: glassbox_core::hash::hex(&hashing.hasher.finalize()),
                bytes: hashing.bytes,
            });
        }
    }
    Ok((inputs, problems))
}

fn handle(
    policy: OnReadError,
    err: DataError,
    s: &Source,
    rel: &str,
    problems: &mut Vec<ReadProblem>,
) -> Result<()> {
    match policy {
        OnReadError::Fail => Err(err),
        OnReadError::Record => {
            problems.push(ReadProblem {
                source: s.name.clone(),
                path: rel.to_string(),
                message: err.to_string(),
            });
            Ok(())
        }
    }
}

struct Ctx<'a> {
    cfg: &'a CurateConfig,
    si: usize,
    s: &'a Source,
    rel: &'a str,
    position: &'a mut u64,
    emit: &'a mut dyn FnMut(RawDoc) -> Result<()>,
    /// Documents being joined under `pack_words`.
    pack: Option<Pack>,
}

/// Documents joined until they hold `min_words` words.
struct Pack {
    min_words: usize,
    bytes: Vec<u8>,
    words: usize,
}

impl Ctx<'_> {
    /// A document as the split cut it: under `pack_words` it joins the pending ones (a document
    /// with a problem passes alone, in order, after them).
    fn doc(
        &mut self,
        bytes: Vec<u8>,
        metadata: Option<Map<String, Value>>,
        problem: Option<(&'static str, String)>,
    ) -> Result<()> {
        let max_doc = self.cfg.limits.max_doc_bytes;
        let Some(pack) = self.pack.as_mut() else {
            return self.emit_doc(bytes, metadata, problem);
        };
        if problem.is_some() {
            self.flush_pack()?;
            return self.emit_doc(bytes, metadata, problem);
        }
        if !pack.bytes.is_empty() && pack.bytes.len() + 1 + bytes.len() > max_doc {
            self.flush_pack()?;
        }
        let Some(pack) = self.pack.as_mut() else {
            return Ok(());
        };
        if !pack.bytes.is_empty() {
            pack.bytes.push(b'\n');
        }
        pack.words += bytes
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty())
            .count();
        pack.bytes.extend_from_slice(&bytes);
        if pack.words >= pack.min_words {
            self.flush_pack()?;
        }
        Ok(())
    }

    /// Emits the documents joined so far, if any.
    fn flush_pack(&mut self) -> Result<()> {
        let Some(pack) = self.pack.as_mut() else {
            return Ok(());
        };
        if pack.bytes.is_empty() {
            return Ok(());
        }
        let bytes = std::mem::take(&mut pack.bytes);
        pack.words = 0;
        self.emit_doc(bytes, None, None)
    }

    fn emit_doc(
        &mut self,
        bytes: Vec<u8>,
        metadata: Option<Map<String, Value>>,
        problem: Option<(&'static str, String)>,
    ) -> Result<()> {
        let d = RawDoc {
            source: self.si,
            position: *self.position,
            file: self.rel.to_string(),
            bytes,
            metadata,
            problem,
        };
        *self.position += 1;
        (self.emit)(d)
    }

    fn input_error(&self, e: std::io::Error) -> DataError {
        let path = self.s.path.join(self.rel);
        let message = match e.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                "the compressed stream ends early: the file is truncated".to_string()
            }
            _ => format!("read failed: {e}"),
        };
        DataError::Input { path, message }
    }
}

fn read_jsonl<R: BufRead>(r: &mut R, ctx: &mut Ctx<'_>) -> Result<()> {
    let max = ctx.cfg.limits.max_line_bytes;
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    while let Some(truncated) = read_line(r, max, &mut buf).map_err(|e| ctx.input_error(e))? {
        line_no += 1;
        if buf.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        if truncated {
            ctx.doc(
                Vec::new(),
                None,
                Some((
                    "too_long",
                    format!("line {line_no} is longer than {max} bytes"),
                )),
            )?;
            continue;
        }
        match serde_json::from_slice::<Value>(&buf) {
            Ok(Value::Object(mut m)) => match m.remove("text") {
                Some(Value::String(t)) => ctx.doc(t.into_bytes(), Some(m), None)?,
                Some(other) => ctx.doc(
                    Vec::new(),
                    Some(m),
                    Some((
                        "no_text",
                        format!(
                            "line {line_no}: `text` is a {} , not a string",
                            kind(&other)
                        ),
                    )),
                )?,
                None => ctx.doc(
                    Vec::new(),
                    Some(m),
                    Some(("no_text", format!("line {line_no} has no `text` field"))),
                )?,
            },
            Ok(other) => ctx.doc(
                Vec::new(),
                None,
                Some((
                    "invalid_json",
                    format!("line {line_no} is a JSON {}, not an object", kind(&other)),
                )),
            )?,
            Err(e) => {
                // Invalid UTF-8 inside JSON is reported as such; anything else is invalid JSON.
                let (f, why) = if std::str::from_utf8(&buf).is_err() {
                    ("invalid_utf8", "invalid UTF-8")
                } else {
                    ("invalid_json", "invalid JSON")
                };
                ctx.doc(
                    Vec::new(),
                    None,
                    Some((f, format!("line {line_no}: {why}: {e}"))),
                )?;
            }
        }
    }
    Ok(())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

fn read_text<R: BufRead>(
    r: &mut R,
    ctx: &mut Ctx<'_>,
    split: Split,
    group: Option<&regex::Regex>,
    strip: Option<&regex::Regex>,
) -> Result<()> {
    let max_line = ctx.cfg.limits.max_line_bytes;
    let max_doc = ctx.cfg.limits.max_doc_bytes;
    let mut buf = Vec::new();
    let mut doc: Vec<u8> = Vec::new();
    let mut too_long = false;
    // Whether the current document has begun (a group key seen, or a line added): a begun
    // document that holds only whitespace is reported as `empty`, never dropped silently.
    let mut started = false;
    let mut key: Option<String> = None;
    let flush = |doc: &mut Vec<u8>,
                 too_long: &mut bool,
                 started: &mut bool,
                 ctx: &mut Ctx<'_>|
     -> Result<()> {
        if *too_long {
            ctx.doc(
                Vec::new(),
                None,
                Some((
                    "too_long",
                    format!("document longer than {max_doc} bytes (limits.max_doc_bytes)"),
                )),
            )?;
        } else if !doc.iter().all(|b| b.is_ascii_whitespace()) {
            ctx.doc(std::mem::take(doc), None, None)?;
        } else if *started {
            ctx.doc(
                Vec::new(),
                None,
                Some(("empty", "the document has no text".to_string())),
            )?;
        }
        doc.clear();
        *too_long = false;
        *started = false;
        Ok(())
    };
    while let Some(truncated) = read_line(r, max_line, &mut buf).map_err(|e| ctx.input_error(e))? {
        match split {
            Split::Line => {
                strip_line(strip, &mut buf);
                if truncated {
                    ctx.doc(
                        Vec::new(),
                        None,
                        Some(("too_long", format!("a line longer than {max_line} bytes"))),
                    )?;
                } else if !buf.iter().all(|b| b.is_ascii_whitespace()) {
                    if buf.len() > max_doc {
                        ctx.doc(
                            Vec::new(),
                            None,
                            Some((
                                "too_long",
                                format!(
                                    "document longer than {max_doc} bytes (limits.max_doc_bytes)"
                                ),
                            )),
                        )?;
                    } else {
                        ctx.doc(buf.clone(), None, None)?;
                    }
                }
                continue;
            }
            Split::Paragraph if buf.iter().all(|b| b.is_ascii_whitespace()) => {
                flush(&mut doc, &mut too_long, &mut started, ctx)?;
                continue;
            }
            Split::Group => {
                let line = String::from_utf8_lossy(&buf);
                if let Some(k) = group
                    .and_then(|g| g.captures(&line))
                    .and_then(|c| c.get(1))
                    .map(|m| m.as_str().to_string())
                    && key.as_ref() != Some(&k)
                {
                    flush(&mut doc, &mut too_long, &mut started, ctx)?;
                    key = Some(k);
                    started = true;
                }
            }
            _ => {}
        }
        strip_line(strip, &mut buf);
        if split == Split::File || !buf.iter().all(|b| b.is_ascii_whitespace()) {
            started = true;
        }
        too_long |= truncated || doc.len() + buf.len() + 1 > max_doc;
        if !too_long {
            if !doc.is_empty() {
                doc.push(b'\n');
            }
            doc.extend_from_slice(&buf);
        }
    }
    if split == Split::File {
        // An empty file is one empty document.
        started = true;
    }
    flush(&mut doc, &mut too_long, &mut started, ctx)
}

/// Removes the first match of `strip` from a line (lines that are not UTF-8 are left alone; the
/// UTF-8 check comes later and reports them).
fn strip_line(strip: Option<&regex::Regex>, buf: &mut Vec<u8>) {
    if let (Some(re), Ok(line)) = (strip, std::str::from_utf8(buf))
        && let Some(m) = re.find(line)
    {
        let stripped = format!("{}{}", &line[..m.start()], &line[m.end()..]);
        *buf = stripped.into_bytes();
    }
}

/// The path of a source's file, for messages.
pub fn display_path(s: &Source, rel: &str) -> PathBuf {
    if s.path.is_file() {
        s.path.clone()
    } else {
        Path::new(&s.path).join(rel)
    }
}
