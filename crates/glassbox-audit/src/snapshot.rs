//! What an audit looks at: the list of files of a release and bounded access to their bytes,
//! whether they are on disk or on the Hugging Face Hub.
//!
//! Safety rules live here, so every detector inherits them: paths are relative, `/`-separated and
//! never contain `..`; symbolic links are followed only when they resolve inside the target (an
//! escaping link becomes a finding, and its target is never read); reads are bounded by a byte
//! limit and say when they were cut; a directory walk stops at a depth and a file count.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::evidence::Evidence;
use crate::finding::{Finding, FindingKind, Severity};

/// Deepest directory level walked below the target root.
pub const MAX_DEPTH: usize = 12;
/// Most files listed from one target.
pub const MAX_FILES: usize = 200_000;

/// One file of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Path relative to the root, `/`-separated, validated by [`safe_relative_path`].
    pub path: String,
    /// Size in bytes, when known.
    pub size: Option<u64>,
}

/// The result of a bounded read.
#[derive(Debug, Clone)]
pub struct Bytes {
    /// The bytes read (at most the limit).
    pub data: Vec<u8>,
    /// Whether the file was longer than the limit.
    pub truncated: bool,
}

impl Bytes {
    /// The bytes as UTF-8 text, or `None` when they are binary (a NUL byte, or invalid UTF-8
    /// other than a multi-byte character cut by the read limit).
    pub fn text(&self) -> Option<&str> {
        if self.data.contains(&0) {
            return None;
        }
        match std::str::from_utf8(&self.data) {
            Ok(s) => Some(s.strip_prefix('\u{feff}').unwrap_or(s)),
            Err(e) if self.truncated && e.error_len().is_none() => {
                std::str::from_utf8(&self.data[..e.valid_up_to()]).ok()
            }
            Err(_) => None,
        }
    }
}

/// Bounded access to a release's files.
pub trait FileSource: std::fmt::Debug {
    /// Reads up to `limit` bytes of `path` from `offset`.
    fn read(&self, path: &str, offset: u64, limit: usize) -> Result<Bytes, String>;
}

/// Kind of target, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// A local directory (Hugging Face-style repository).
    Directory,
    /// A local glassbox release bundle (`MANIFEST.json` present).
    Bundle,
    /// A repository on the Hugging Face Hub.
    Hub,
    /// A Model Openness Tool model file.
    Mot,
}

/// Everything an audit reads, gathered from one target.
#[derive(Debug)]
pub struct Snapshot {
    /// What was audited (path, `hf:org/name`, MOT file).
    pub id: String,
    /// Kind of target.
    pub kind: TargetKind,
    /// Resolved revision (commit) when known.
    pub revision: Option<String>,
    /// Files, sorted by path.
    pub files: Vec<FileEntry>,
    /// Branch and tag names (Hub), e.g. Pythia's `step1000`.
    pub refs: Vec<String>,
    /// The Hub's parsed card metadata (`cardData`), when the target is on the Hub.
    pub api_card_data: Option<serde_json::Value>,
    /// The Hub's `gated` field (`"auto"`, `"manual"`) when access is gated.
    pub gated: Option<String>,
    /// Where file bytes come from.
    pub source: Box<dyn FileSource>,
    /// Problems met while listing (escaping links, limits reached).
    pub findings: Vec<Finding>,
}

impl Snapshot {
    /// Whether `path` is one of the files.
    pub fn has(&self, path: &str) -> bool {
        self.files
            .binary_search_by(|f| f.path.as_str().cmp(path))
            .is_ok()
    }

    /// The entry of `path`.
    pub fn entry(&self, path: &str) -> Option<&FileEntry> {
        self.files
            .binary_search_by(|f| f.path.as_str().cmp(path))
            .ok()
            .map(|i| &self.files[i])
    }

    /// Reads up to `limit` bytes of `path`, recording a finding when the read fails.
    pub fn read(&mut self, path: &str, limit: usize) -> Option<Bytes> {
        match self.source.read(path, 0, limit) {
            Ok(b) => Some(b),
            Err(e) => {
                self.findings.push(Finding::new(
                    Severity::Warning,
                    FindingKind::Unreadable,
                    format!("{path} could not be read: {e}"),
                    vec![Evidence::file(path)],
                ));
                None
            }
        }
    }

    /// Reads `path` as text (bounded); binary or unreadable files give `None` and a finding.
    pub fn read_text(&mut self, path: &str, limit: usize) -> Option<(String, bool)> {
        let bytes = self.read(path, limit)?;
        match bytes.text() {
            Some(t) => Some((t.to_string(), bytes.truncated)),
            None => {
                self.findings.push(Finding::new(
                    Severity::Warning,
                    FindingKind::Bounded,
                    format!("{path} is binary, not text; it was not interpreted"),
                    vec![Evidence::file(path)],
                ));
                None
            }
        }
    }
}

/// Checks that a path taken from a repository or an API response stays inside the target:
/// relative, `/`-separated, no empty, `.` or `..` component, no NUL, no drive or backslash.
pub fn safe_relative_path(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 4096
        && !p.starts_with('/')
        && !p.contains('\\')
        && !p.contains('\0')
        && !p.contains(':')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Bytes read from local files by all [`LocalSource`]s of this process (for benchmarks that show
/// an audit reads headers, not whole files).
pub static LOCAL_BYTES_READ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A directory on disk.
#[derive(Debug)]
pub struct LocalSource {
    root: PathBuf,
}

impl LocalSource {
    /// A source rooted at `root` (must be canonical).
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// Resolves `rel` under the root, refusing anything that would leave it.
    fn resolve(&self, rel: &str) -> Result<PathBuf, String> {
        if !safe_relative_path(rel) {
            return Err(format!("`{rel}` is not a path inside the target"));
        }
        let p = self.root.join(rel);
        let canon = p.canonicalize().map_err(|e| e.to_string())?;
        if !canon.starts_with(&self.root) {
            return Err(format!("`{rel}` resolves outside the target"));
        }
        Ok(canon)
    }
}

impl FileSource for LocalSource {
    fn read(&self, path: &str, offset: u64, limit: usize) -> Result<Bytes, String> {
        use std::io::Seek;
        let p = self.resolve(path)?;
        let mut f = std::fs::File::open(&p).map_err(|e| e.to_string())?;
        let len = f.metadata().map_err(|e| e.to_string())?.len();
        if offset > 0 {
            f.seek(std::io::SeekFrom::Start(offset))
                .map_err(|e| e.to_string())?;
        }
        let mut data = Vec::with_capacity(limit.min(1 << 20));
        f.take(limit as u64)
            .read_to_end(&mut data)
            .map_err(|e| e.to_string())?;
        LOCAL_BYTES_READ.fetch_add(data.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(Bytes {
            truncated: offset + (data.len() as u64) < len,
            data,
        })
    }
}

/// Lists the files under `root` (canonicalised), following links only inside it.
pub fn walk_local(root: &Path) -> (PathBuf, Vec<FileEntry>, Vec<Finding>) {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut files = Vec::new();
    let mut findings = Vec::new();
    let mut stack = vec![(root.clone(), String::new(), 0usize)];
    let mut limit_hit = false;
    while let Some((dir, rel, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            findings.push(Finding::new(
                Severity::Warning,
                FindingKind::Unreadable,
                format!(
                    "directory {} could not be listed",
                    if rel.is_empty() { "." } else { &rel }
                ),
                vec![Evidence::file(if rel.is_empty() {
                    ".".to_string()
                } else {
                    rel.clone()
                })],
            ));
            continue;
        };
        let mut names: Vec<_> = entries.filter_map(|e| e.ok()).collect();
        names.sort_by_key(|e| e.file_name());
        for e in names {
            let name = e.file_name().to_string_lossy().into_owned();
            if name == ".git" {
                continue;
            }
            let child_rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if !safe_relative_path(&child_rel) {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
                continue;
            };
            let (is_dir, size) = if meta.file_type().is_symlink() {
                match e.path().canonicalize() {
                    Ok(t) if t.starts_with(&root) => match std::fs::metadata(&t) {
                        Ok(m) => (m.is_dir(), m.len()),
                        Err(_) => continue,
                    },
                    Ok(t) => {
                        findings.push(Finding::new(
                            Severity::Error,
                            FindingKind::Security,
                            format!(
                                "symbolic link {child_rel} points outside the target ({}); it was not followed",
                                t.display()
                            ),
                            vec![Evidence::file(child_rel.clone())],
                        ));
                        continue;
                    }
                    Err(_) => {
                        findings.push(Finding::new(
                            Severity::Warning,
                            FindingKind::Unreadable,
                            format!("symbolic link {child_rel} is broken"),
                            vec![Evidence::file(child_rel.clone())],
                        ));
                        continue;
                    }
                }
            } else {
                (meta.is_dir(), meta.len())
            };
            if is_dir {
                if depth + 1 > MAX_DEPTH {
                    limit_hit = true;
                    continue;
                }
                stack.push((e.path(), child_rel, depth + 1));
            } else if files.len() < MAX_FILES {
                files.push(FileEntry {
                    path: child_rel,
                    size: Some(size),
                });
            } else {
                limit_hit = true;
            }
        }
    }
    if limit_hit {
        findings.push(Finding::new(
            Severity::Warning,
            FindingKind::Bounded,
            format!("the listing stopped at {MAX_DEPTH} directory levels or {MAX_FILES} files; deeper files were not audited"),
            vec![Evidence::file(".")],
        ));
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    (root, files, findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_paths_are_refused() {
        for p in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a\\b",
            "c:x",
            "a/\0",
        ] {
            assert!(!safe_relative_path(p), "{p:?}");
        }
        assert!(safe_relative_path("models/llama/config.json"));
    }

    #[cfg(unix)]
    #[test]
    fn escaping_symlinks_are_findings_and_not_read() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "top secret").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("README.md"), "# hi").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("LICENSE"))
            .unwrap();
        std::os::unix::fs::symlink(dir.path().join("README.md"), dir.path().join("inside"))
            .unwrap();
        let (root, files, findings) = walk_local(dir.path());
        let names: Vec<_> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(names, vec!["README.md", "inside"]);
        assert!(
            findings
                .iter()
                .any(|f| f.message.contains("LICENSE") && f.kind == FindingKind::Security)
        );
        let src = LocalSource::new(root);
        assert!(src.read("LICENSE", 0, 100).is_err());
        assert!(src.read("../x", 0, 100).is_err());
        assert_eq!(src.read("inside", 0, 100).unwrap().data, b"# hi");
    }

    #[test]
    fn binary_and_truncated_text() {
        assert!(
            Bytes {
                data: b"ab\0c".to_vec(),
                truncated: false
            }
            .text()
            .is_none()
        );
        // "é" cut in half by the limit still yields the text before it.
        let b = Bytes {
            data: vec![b'a', 0xc3],
            truncated: true,
        };
        assert_eq!(b.text(), Some("a"));
    }
}
