//! Static scan of Python pickles, the way picklescan does it: walk the opcodes without executing
//! anything and list every global the pickle would import. Loading a pickle runs those imports
//! (and calls them with `REDUCE`), so a global outside a small allow-list is how a malicious
//! "model" runs code.
//!
//! PyTorch checkpoints are zip archives whose `*.pkl` members are pickles (the tensor bytes live
//! in other members); legacy PyTorch files are several pickles back to back. Both are handled.
//! Reads are bounded; an opcode the scanner does not know stops the scan with a finding.

use std::collections::HashMap;
use std::io::{Read, Seek};
use std::rc::Rc;

/// Most pickle bytes scanned per stream.
pub const MAX_PICKLE: usize = 64 << 20;
/// Most pickle bytes scanned per zip archive, over all its `.pkl` members.
pub const MAX_ARCHIVE_PICKLE: usize = 4 * MAX_PICKLE;
/// Deepest the scanner's stack may grow.
const MAX_STACK: usize = 1_000_000;
/// Most memo entries the scanner keeps (a PyTorch state dict uses about ten per tensor).
const MAX_MEMO: usize = 1 << 22;

/// Globals that only rebuild tensors and containers (PyTorch, NumPy, collections).
const SAFE: &[(&str, &[&str])] = &[
    (
        "collections",
        &["OrderedDict", "defaultdict", "Counter", "deque"],
    ),
    (
        "torch._utils",
        &[
            "_rebuild_tensor",
            "_rebuild_tensor_v2",
            "_rebuild_tensor_v3",
            "_rebuild_parameter",
            "_rebuild_parameter_with_state",
            "_rebuild_qtensor",
            "_rebuild_sparse_tensor",
            "_rebuild_device_tensor_from_numpy",
            "_rebuild_meta_tensor_no_storage",
            "_rebuild_wrapper_subclass",
        ],
    ),
    ("torch._tensor", &["_rebuild_from_type_v2"]),
    (
        "torch",
        &[
            "Size",
            "device",
            "dtype",
            "FloatStorage",
            "HalfStorage",
            "BFloat16Storage",
            "DoubleStorage",
            "LongStorage",
            "IntStorage",
            "ShortStorage",
            "CharStorage",
            "ByteStorage",
            "BoolStorage",
            "ComplexFloatStorage",
            "ComplexDoubleStorage",
            "UntypedStorage",
            "float16",
            "float32",
            "float64",
            "bfloat16",
            "int64",
            "int32",
            "int8",
            "uint8",
            "bool",
            "float8_e4m3fn",
            "float8_e5m2",
        ],
    ),
    ("torch.serialization", &["_get_layout"]),
    ("numpy.core.multiarray", &["_reconstruct", "scalar"]),
    ("numpy._core.multiarray", &["_reconstruct", "scalar"]),
    ("numpy", &["ndarray", "dtype"]),
    ("_codecs", &["encode"]),
    (
        "builtins",
        &[
            "set",
            "frozenset",
            "slice",
            "range",
            "complex",
            "bytearray",
            "tuple",
            "list",
            "dict",
            "int",
            "float",
            "bool",
            "str",
            "bytes",
        ],
    ),
    (
        "__builtin__",
        &["set", "frozenset", "slice", "complex", "bytearray"],
    ),
];

/// Modules whose import in a pickle is a way to run code (any name in them).
const DANGEROUS_MODULES: &[&str] = &[
    "os",
    "posix",
    "nt",
    "subprocess",
    "sys",
    "runpy",
    "shutil",
    "socket",
    "requests",
    "urllib",
    "urllib2",
    "http",
    "httplib",
    "ftplib",
    "telnetlib",
    "webbrowser",
    "pty",
    "importlib",
    "pickle",
    "_pickle",
    "marshal",
    "code",
    "codeop",
    "types",
    "ctypes",
    "platform",
    "asyncio",
    "multiprocessing",
    "pdb",
    "bdb",
    "timeit",
    "venv",
    "pip",
    "setuptools",
    "torch.hub",
    "commands",
    "dill",
    "cloudpickle",
    "operator",
    "functools",
    "inspect",
    "aiohttp",
    "httpx",
    "paramiko",
];

/// Builtins that evaluate, import, open or reflect.
const DANGEROUS_BUILTINS: &[&str] = &[
    "eval",
    "exec",
    "compile",
    "open",
    "__import__",
    "getattr",
    "setattr",
    "delattr",
    "globals",
    "locals",
    "vars",
    "breakpoint",
    "input",
    "execfile",
    "apply",
    "memoryview",
];

/// How risky one imported global is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// On the allow-list (rebuilds tensors or plain containers).
    Safe,
    /// Not on the allow-list: loading it imports and may call arbitrary library code.
    Unknown,
    /// A known way to execute code, run commands or reach the network.
    Dangerous,
}

/// One global a pickle imports.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Import {
    /// Module (`torch._utils`).
    pub module: String,
    /// Name (`_rebuild_tensor_v2`).
    pub name: String,
    /// Risk.
    pub risk: Risk,
}

/// The result of scanning a file.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ScanReport {
    /// Distinct globals imported, sorted.
    pub imports: Vec<Import>,
    /// Pickle streams scanned.
    pub streams: usize,
    /// Problems that stopped or limited the scan.
    pub problems: Vec<String>,
}

impl ScanReport {
    /// The highest risk found (`Safe` when no global is imported).
    pub fn max_risk(&self) -> Risk {
        self.imports
            .iter()
            .map(|i| i.risk)
            .max()
            .unwrap_or(Risk::Safe)
    }
}

/// Risk of importing `module.name`.
pub fn classify(module: &str, name: &str) -> Risk {
    if SAFE
        .iter()
        .any(|(m, names)| *m == module && names.contains(&name))
    {
        return Risk::Safe;
    }
    let top = module.split('.').next().unwrap_or(module);
    if (module == "builtins" || module == "__builtin__") && DANGEROUS_BUILTINS.contains(&name) {
        return Risk::Dangerous;
    }
    if DANGEROUS_MODULES.contains(&module) || DANGEROUS_MODULES.contains(&top) {
        return Risk::Dangerous;
    }
    if name.contains("system") || name.contains("popen") || name == "eval" || name == "exec" {
        return Risk::Dangerous;
    }
    Risk::Unknown
}

/// Scans a file: a zip archive (PyTorch ≥ 1.6) or raw pickles (legacy PyTorch, `.pkl`).
pub fn scan_file<R: Read + Seek>(mut file: R) -> ScanReport {
    let mut magic = [0u8; 4];
    let is_zip = file.read_exact(&mut magic).is_ok() && magic == *b"PK\x03\x04";
    if file.seek(std::io::SeekFrom::Start(0)).is_err() {
        return ScanReport {
            problems: vec!["cannot seek".into()],
            ..Default::default()
        };
    }
    if is_zip {
        scan_zip(file, MAX_ARCHIVE_PICKLE)
    } else {
        let mut buf = Vec::new();
        let _ = file.take(MAX_PICKLE as u64 + 1).read_to_end(&mut buf);
        let cut = buf.len() > MAX_PICKLE;
        buf.truncate(MAX_PICKLE);
        let mut report = ScanReport::default();
        scan_streams(&buf, 8, cut, &mut report);
        finish(report)
    }
}

/// Scans the `.pkl` members of a zip archive, reading at most `budget` bytes of them in all.
fn scan_zip<R: Read + Seek>(file: R, mut budget: usize) -> ScanReport {
    let mut report = ScanReport::default();
    let mut archive = match zip::ZipArchive::new(file) {
        Ok(a) => a,
        Err(e) => {
            report
                .problems
                .push(format!("not a readable zip archive: {e}"));
            return report;
        }
    };
    // The sizes a zip declares are never used to size a buffer: each member is read through a
    // limit, and all members together share one budget.
    for i in 0..archive.len() {
        let Ok(mut entry) = archive.by_index(i) else {
            continue;
        };
        let Ok(name) = entry.name().map(|n| n.to_string()) else {
            continue;
        };
        if !name.ends_with(".pkl") {
            continue;
        }
        if budget == 0 {
            report.problems.push(format!(
                "{name}: not scanned; the archive's pickles exceed the {MAX_ARCHIVE_PICKLE} bytes scanned per archive"
            ));
            break;
        }
        let limit = budget.min(MAX_PICKLE);
        let mut buf = Vec::new();
        if let Err(e) = (&mut entry).take(limit as u64 + 1).read_to_end(&mut buf) {
            report.problems.push(format!("{name}: {e}"));
            continue;
        }
        let cut = buf.len() > limit;
        buf.truncate(limit);
        budget -= buf.len();
        let before = report.problems.len();
        scan_streams(&buf, 1, cut, &mut report);
        for p in &mut report.problems[before..] {
            *p = format!("{name}: {p}");
        }
    }
    if report.streams == 0 && report.problems.is_empty() {
        report
            .problems
            .push("the archive holds no .pkl member".into());
    }
    finish(report)
}

fn finish(mut r: ScanReport) -> ScanReport {
    r.imports.sort();
    r.imports.dedup();
    r
}

/// Scans up to `max_streams` consecutive pickles in `data`.
pub fn scan_stream(data: &[u8], max_streams: usize, report: &mut ScanReport) {
    scan_streams(data, max_streams, false, report);
}

/// Why a scan stopped before STOP.
enum Stop {
    /// The bytes ran out (or a length points past them).
    OutOfBytes(String),
    /// Not a pickle (an unknown opcode).
    Malformed(String),
    /// A limit of this scanner: what follows was not looked at.
    Limit(String),
}

/// [`scan_stream`]; `cut`: `data` is the first bytes of a longer stream.
fn scan_streams(data: &[u8], max_streams: usize, cut: bool, report: &mut ScanReport) {
    let mut pos = 0;
    for k in 0..max_streams {
        if pos >= data.len() {
            break;
        }
        match scan_one(&data[pos..], report) {
            Ok(used) => {
                report.streams += 1;
                pos += used;
            }
            // Python would read on where the scanner stopped: always a problem.
            Err(Stop::OutOfBytes(_)) if cut => {
                report.problems.push(format!(
                    "the pickle continues past the first {} bytes scanned",
                    data.len()
                ));
                break;
            }
            Err(Stop::Limit(e)) => {
                report.problems.push(e);
                break;
            }
            // After the first pickle of a legacy file come raw tensor bytes: not an error.
            Err(Stop::OutOfBytes(e) | Stop::Malformed(e)) => {
                if k == 0 {
                    report.problems.push(e);
                }
                break;
            }
        }
    }
}

/// Scans one pickle; returns the bytes it used (through STOP).
fn scan_one(d: &[u8], report: &mut ScanReport) -> Result<usize, Stop> {
    let mut i = 0usize;
    // An approximate stack of the string values pushed, enough to resolve STACK_GLOBAL. Shared
    // (`Rc`) so that a memoised string fetched a million times is not copied a million times.
    let mut stack: Vec<Option<Rc<str>>> = Vec::new();
    let mut memo: HashMap<u64, Option<Rc<str>>> = HashMap::new();
    let short = |m: &str| Stop::OutOfBytes(m.to_string());
    let add = |module: &str, name: &str, report: &mut ScanReport| {
        report.imports.push(Import {
            module: module.to_string(),
            name: name.to_string(),
            risk: classify(module, name),
        });
    };
    // Bounds are checked against the bytes left before anything is sliced or copied.
    let take = |i: &mut usize, n: usize| -> Result<&[u8], Stop> {
        let s = i
            .checked_add(n)
            .and_then(|end| d.get(*i..end))
            .ok_or_else(|| short("truncated pickle"))?;
        *i += n;
        Ok(s)
    };
    let line = |i: &mut usize| -> Result<Rc<str>, Stop> {
        let rest = d.get(*i..).ok_or_else(|| short("truncated pickle"))?;
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| short("truncated pickle line"))?;
        *i += end + 1;
        Ok(String::from_utf8_lossy(&rest[..end]).into())
    };
    let le = |b: &[u8]| b.iter().rev().fold(0u64, |acc, &x| (acc << 8) | x as u64);
    loop {
        let op = *d.get(i).ok_or_else(|| short("pickle ended without STOP"))?;
        i += 1;
        match op {
            b'.' => return Ok(i),
            // No argument.
            b'(' | b'0' | b'1' | b'2' | b'N' | b'Q' | b'R' | b'a' | b'b' | b'd' | b'}' | b'e'
            | b'l' | b']' | b'o' | b's' | b't' | b')' | b'u' | 0x81 | 0x85 | 0x86 | 0x87 | 0x88
            | 0x89 | 0x8f | 0x90 | 0x91 | 0x92 | 0x97 | 0x98 => {
                if matches!(op, b'0') {
                    stack.pop();
                } else if !matches!(op, b'(' | b'2') {
                    stack.push(None);
                }
            }
            // Newline-terminated argument.
            b'F' | b'I' | b'L' | b'P' | b'S' | b'V' | b'g' | b'p' => {
                let arg = line(&mut i)?;
                match op {
                    b'V' => stack.push(Some(arg)),
                    b'S' => stack.push(Some(arg.trim_matches(['\'', '"']).into())),
                    b'p' => {
                        if let Ok(k) = arg.trim().parse() {
                            memo.insert(k, stack.last().cloned().flatten());
                        }
                    }
                    b'g' => stack.push(
                        arg.trim()
                            .parse()
                            .ok()
                            .and_then(|k| memo.get(&k).cloned().flatten()),
                    ),
                    _ => stack.push(None),
                }
            }
            b'c' | b'i' => {
                let module = line(&mut i)?;
                let name = line(&mut i)?;
                add(&module, &name, report);
                stack.push(None);
            }
            0x93 => {
                let name = stack.pop().flatten();
                let module = stack.pop().flatten();
                match (module, name) {
                    (Some(m), Some(n)) => add(&m, &n, report),
                    _ => report.imports.push(Import {
                        module: "(computed)".into(),
                        name: "(computed)".into(),
                        risk: Risk::Unknown,
                    }),
                }
                stack.push(None);
            }
            // Fixed-size arguments.
            b'J' => {
                take(&mut i, 4)?;
                stack.push(None);
            }
            b'K' | 0x82 => {
                take(&mut i, 1)?;
                stack.push(None);
            }
            b'M' | 0x83 => {
                take(&mut i, 2)?;
                stack.push(None);
            }
            0x84 => {
                take(&mut i, 4)?;
                stack.push(None);
            }
            b'G' => {
                take(&mut i, 8)?;
                stack.push(None);
            }
            0x80 => {
                take(&mut i, 1)?;
            }
            0x95 => {
                take(&mut i, 8)?;
            }
            b'h' => {
                let k = take(&mut i, 1)?[0] as u64;
                stack.push(memo.get(&k).cloned().flatten());
            }
            b'j' => {
                let k = le(take(&mut i, 4)?);
                stack.push(memo.get(&k).cloned().flatten());
            }
            b'q' => {
                let k = take(&mut i, 1)?[0] as u64;
                memo.insert(k, stack.last().cloned().flatten());
            }
            b'r' => {
                let k = le(take(&mut i, 4)?);
                memo.insert(k, stack.last().cloned().flatten());
            }
            0x94 => {
                let k = memo.len() as u64;
                memo.insert(k, stack.last().cloned().flatten());
            }
            // Length-prefixed data.
            b'T' | b'X' | b'B' | b'U' | b'C' | 0x8c | 0x8d | 0x8e | 0x96 | 0x8a | 0x8b => {
                let width = match op {
                    b'U' | b'C' | 0x8c | 0x8a => 1,
                    b'T' | b'X' | b'B' | 0x8b => 4,
                    _ => 8,
                };
                let n = le(take(&mut i, width)?);
                let left = d.len() - i;
                let n = usize::try_from(n)
                    .ok()
                    .filter(|&n| n <= left)
                    .ok_or_else(|| {
                        Stop::OutOfBytes(format!(
                            "opcode 0x{op:02x} at byte {} declares {n} bytes; {left} remain",
                            i - 1 - width
                        ))
                    })?;
                let bytes = take(&mut i, n)?;
                if matches!(op, b'X' | 0x8c | 0x8d | b'T' | b'U') {
                    stack.push(Some(String::from_utf8_lossy(bytes).into()));
                } else {
                    stack.push(None);
                }
            }
            other => {
                return Err(Stop::Malformed(format!(
                    "unknown pickle opcode 0x{other:02x} at byte {}",
                    i - 1
                )));
            }
        }
        if stack.len() > MAX_STACK {
            return Err(Stop::Limit(format!(
                "pickle stack grows past {MAX_STACK} entries at byte {i}; the rest was not scanned"
            )));
        }
        if memo.len() > MAX_MEMO {
            return Err(Stop::Limit(format!(
                "pickle memo grows past {MAX_MEMO} entries at byte {i}; the rest was not scanned"
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// protocol 2: GLOBAL 'collections OrderedDict', EMPTY_TUPLE, REDUCE, STOP
    const ORDERED_DICT: &[u8] = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01.";
    /// protocol 4: STACK_GLOBAL of 'posix' 'system' with a memoised string, then a call.
    const EVIL: &[u8] = b"\x80\x04\x95\x20\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93\x94\x8c\x02id\x94\x85\x94R\x94.";

    #[test]
    fn safe_and_dangerous_globals() {
        let mut r = ScanReport::default();
        scan_stream(ORDERED_DICT, 1, &mut r);
        assert_eq!(
            r.imports,
            vec![Import {
                module: "collections".into(),
                name: "OrderedDict".into(),
                risk: Risk::Safe
            }]
        );
        let mut r = ScanReport::default();
        scan_stream(EVIL, 1, &mut r);
        assert_eq!(r.max_risk(), Risk::Dangerous, "{r:?}");
        assert_eq!(r.imports[0].module, "posix");
        assert_eq!(r.imports[0].name, "system");
        assert_eq!(classify("builtins", "eval"), Risk::Dangerous);
        assert_eq!(classify("torch._utils", "_rebuild_tensor_v2"), Risk::Safe);
        assert_eq!(classify("my_package.model", "Net"), Risk::Unknown);
    }

    #[test]
    fn truncated_and_garbage_are_problems_not_panics() {
        let mut r = ScanReport::default();
        scan_stream(&EVIL[..20], 1, &mut r);
        assert!(!r.problems.is_empty());
        let mut r = ScanReport::default();
        scan_stream(&[0xff, 0x00, 0x12], 1, &mut r);
        assert!(r.problems[0].contains("unknown pickle opcode"));
        let r = scan_file(std::io::Cursor::new(b"PK\x03\x04garbage".to_vec()));
        assert!(!r.problems.is_empty());
    }

    /// A zip archive of stored members.
    fn zip_of(members: &[(&str, &[u8])]) -> std::io::Cursor<Vec<u8>> {
        use std::io::Write;
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut buf);
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored);
            for (name, bytes) in members {
                z.start_file(*name, opts).unwrap();
                z.write_all(bytes).unwrap();
            }
            z.finish().unwrap();
        }
        buf.set_position(0);
        buf
    }

    #[test]
    fn forged_lengths_are_bounded_by_the_remaining_input() {
        // (opcode, width of its length): BINSTRING, BINUNICODE, BINBYTES, SHORT_BINSTRING,
        // SHORT_BINBYTES, SHORT_BINUNICODE, BINUNICODE8, BINBYTES8, BYTEARRAY8, LONG1, LONG4.
        let ops: [(u8, usize); 11] = [
            (b'T', 4),
            (b'X', 4),
            (b'B', 4),
            (b'U', 1),
            (b'C', 1),
            (0x8c, 1),
            (0x8d, 8),
            (0x8e, 8),
            (0x96, 8),
            (0x8a, 1),
            (0x8b, 4),
        ];
        for (op, width) in ops {
            // The largest length the field holds, and one that wraps `position + length`.
            let max = if width == 8 {
                u64::MAX
            } else {
                (1u64 << (8 * width)) - 1
            };
            for n in [max, max - 2] {
                let mut p = vec![0x80, 0x04, op];
                p.extend_from_slice(&n.to_le_bytes()[..width]);
                p.extend_from_slice(b"abc.");
                let mut r = ScanReport::default();
                scan_stream(&p, 1, &mut r);
                assert_eq!(r.streams, 0);
                let want = format!("declares {n} bytes; 4 remain");
                assert!(
                    r.problems.len() == 1 && r.problems[0].contains(&want),
                    "0x{op:02x} {n}: {:?}",
                    r.problems
                );
            }
        }
        // A length that fits is read.
        let mut r = ScanReport::default();
        scan_stream(b"\x80\x04\x8c\x03abc.", 1, &mut r);
        assert_eq!((r.streams, r.problems.len()), (1, 0));
    }

    #[test]
    fn memoised_string_fetched_repeatedly_is_not_copied() {
        // A 1 MiB string, memoised, then fetched 900,000 times: copied, that is 900 GiB.
        let mut p = vec![0x80, 0x04, 0x8d];
        p.extend_from_slice(&(1u64 << 20).to_le_bytes());
        p.extend(std::iter::repeat_n(b'a', 1 << 20));
        p.push(0x94);
        for _ in 0..900_000 {
            p.extend_from_slice(b"h\x00");
        }
        p.push(b'.');
        let mut r = ScanReport::default();
        scan_stream(&p, 1, &mut r);
        assert_eq!((r.streams, r.problems.len()), (1, 0), "{:?}", r.problems);
    }

    #[test]
    fn scanner_limits_in_a_later_stream_are_reported() {
        // A legacy file: a first pickle, then one that outgrows the scanner's stack before it
        // imports posix.system. Python would run it; the scan must not end silently.
        let mut data = ORDERED_DICT.to_vec();
        data.extend_from_slice(b"\x80\x02");
        data.extend(std::iter::repeat_n(b'N', MAX_STACK + 1));
        data.extend_from_slice(b"cposix\nsystem\n.");
        let r = scan_file(std::io::Cursor::new(data));
        assert_eq!(r.streams, 1);
        assert!(
            r.problems.iter().any(|p| p.contains("stack grows past")),
            "{:?}",
            r.problems
        );
        // The memo too.
        let mut data = ORDERED_DICT.to_vec();
        data.extend_from_slice(b"\x80\x04N");
        data.extend(std::iter::repeat_n(0x94, MAX_MEMO + 1));
        data.push(b'.');
        let r = scan_file(std::io::Cursor::new(data));
        assert!(
            r.problems.iter().any(|p| p.contains("memo grows past")),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn legacy_pickle_cut_at_the_scan_limit_is_reported() {
        // The second pickle declares a string that ends past the bytes scanned.
        let mut data = ORDERED_DICT.to_vec();
        data.extend_from_slice(b"\x80\x04\x8d");
        data.extend_from_slice(&(MAX_PICKLE as u64).to_le_bytes());
        data.resize(MAX_PICKLE + 1024, b'a');
        let r = scan_file(std::io::Cursor::new(data));
        assert_eq!(r.streams, 1);
        assert!(
            r.problems
                .iter()
                .any(|p| p.contains(&format!("continues past the first {MAX_PICKLE} bytes"))),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn problems_of_a_later_zip_member_are_reported() {
        let r = scan_file(zip_of(&[
            ("archive/a.pkl", ORDERED_DICT),
            ("archive/b.pkl", &EVIL[..20]),
        ]));
        assert_eq!(r.streams, 1);
        assert!(
            r.problems.iter().any(|p| p.starts_with("archive/b.pkl: ")),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn zip_pickles_past_the_archive_budget_are_reported_not_read() {
        let zip = zip_of(&[
            ("archive/a.pkl", ORDERED_DICT),
            ("archive/b.pkl", EVIL),
            ("archive/c.pkl", EVIL),
        ]);
        // Room for a.pkl and the first bytes of b.pkl only.
        let r = scan_zip(zip, ORDERED_DICT.len() + 10);
        assert_eq!(r.streams, 1);
        assert!(
            r.problems[0].starts_with("archive/b.pkl: the pickle continues past the first 10"),
            "{:?}",
            r.problems
        );
        assert!(
            r.problems[1].starts_with("archive/c.pkl: not scanned"),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn zip_archive_members_are_scanned() {
        use std::io::Write;
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut buf);
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored);
            z.start_file("archive/data.pkl", opts).unwrap();
            z.write_all(EVIL).unwrap();
            z.start_file("archive/data/0", opts).unwrap();
            z.write_all(&[0u8; 16]).unwrap();
            z.finish().unwrap();
        }
        buf.set_position(0);
        let r = scan_file(buf);
        assert_eq!(r.streams, 1);
        assert_eq!(r.max_risk(), Risk::Dangerous);
    }
}
