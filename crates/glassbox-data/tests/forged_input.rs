//! Regression tests for user-controlled sizes: zero batch sizes and sequence lengths, and file
//! headers whose counts are forged (huge, negative, or chosen so that `count · size` wraps).
//! Each must be a clear error — never a panic, never an allocation sized from the header.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use glassbox_data::dataset::{Dataset, ORDER_MAGIC, ORDER_VERSION, read_order};
use glassbox_data::interop::{self, ImportFormat};
use glassbox_data::shards::{Dtype, MAGIC, Shard, ShardWriter, VERSION};

/// A small imported dataset: 40 documents of 9 tokens + EOS (id 0), 400 tokens in all.
fn small_dataset(dir: &Path) -> PathBuf {
    let tokens: Vec<u16> = (0..400u32)
        .map(|i| if i % 10 == 9 { 0 } else { (i % 10 + 1) as u16 })
        .collect();
    let bin = dir.join("train.bin");
    let bytes: Vec<u8> = tokens.iter().flat_map(|t| t.to_le_bytes()).collect();
    std::fs::write(&bin, bytes).unwrap();
    let out = dir.join("ds");
    interop::import(&bin, ImportFormat::NanoGpt, 0, None, &out).unwrap();
    out
}

#[test]
fn zero_seq_len_or_batch_size_is_an_error_not_a_division_by_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ds = Dataset::open(&small_dataset(tmp.path())).unwrap();
    let doc = ds.train_docs[3].id.clone();
    // (batch_size, seq_len, expected message)
    let cases = [
        (4, 0, "seq_len must be at least 1"),
        (0, 16, "batch_size must be at least 1"),
        (0, 0, "seq_len must be at least 1"),
        (4, 10_000, "too short for seq_len 10000"),
    ];
    for (batch, seq_len, want) in cases {
        let e = ds
            .trace(&doc, batch, seq_len, 1, 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "trace({batch}, {seq_len}): {e}");
        let e = ds.batch(0, batch, seq_len, 1).unwrap_err().to_string();
        assert!(e.contains(want), "batch({batch}, {seq_len}): {e}");
    }
    // The order file and the OLMo export refuse a zero seq_len too.
    let e = ds.write_order(0, 1).unwrap_err().to_string();
    assert!(e.contains("seq_len must be at least 1"), "{e}");
    let e = interop::export_olmo(&mut ds, 0, 1, &tmp.path().join("olmo"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("seq_len must be at least 1"), "{e}");
    // Sane values still work.
    assert_eq!(ds.batch(0, 4, 16, 1).unwrap().len(), 4);
    assert!(!ds.trace(&doc, 4, 16, 1, 1).unwrap().is_empty());
}

#[test]
fn step_or_epoch_past_the_last_position_is_an_error_not_an_overflow() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ds = Dataset::open(&small_dataset(tmp.path())).unwrap();
    let e = ds.batch(u64::MAX, 8, 16, 1).unwrap_err().to_string();
    assert!(e.contains("past the last position"), "{e}");
    let e = ds.read("train", u64::MAX, 2).unwrap_err().to_string();
    assert!(e.contains("past the end"), "{e}");
    // A read longer than the split is refused before its buffer is allocated.
    let e = ds.read("train", 0, usize::MAX).unwrap_err().to_string();
    assert!(e.contains("past the end"), "{e}");
}

fn order_file(n: u64, body: usize) -> Vec<u8> {
    let mut b = ORDER_MAGIC.to_vec();
    b.extend_from_slice(&ORDER_VERSION.to_le_bytes());
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&7u64.to_le_bytes());
    b.extend_from_slice(&n.to_le_bytes());
    b.extend(std::iter::repeat_n(0u8, body));
    b
}

#[test]
fn forged_order_file_sample_count_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("order.bin");
    // 2^61 + 2 samples: `n · 8` wraps to 16, the length of the two samples in the file.
    for (n, body) in [
        ((1u64 << 61) + 2, 16),
        (u64::MAX, 16),
        (u64::MAX / 8, 0),
        (3, 16),
    ] {
        std::fs::write(&p, order_file(n, body)).unwrap();
        let e = read_order(&p).unwrap_err().to_string();
        assert!(e.contains(&format!("declares {n} samples")), "{n}: {e}");
    }
    std::fs::write(&p, order_file(2, 16)).unwrap();
    assert_eq!(read_order(&p).unwrap(), (16, 7, vec![0, 0]));
}

#[test]
fn shard_header_whose_count_times_size_overflows_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("s.bin");
    let mut w = ShardWriter::create(&p, Dtype::Uint32).unwrap();
    w.push(&[1, 2]).unwrap();
    w.finish().unwrap();
    let mut bytes = std::fs::read(&p).unwrap();
    assert_eq!(&bytes[..8], MAGIC);
    assert_eq!(
        u32::from_le_bytes(bytes[8..12].try_into().unwrap()),
        VERSION
    );
    // 2^62 + 2 tokens of 4 bytes: `count · 4` wraps to 8, the bytes actually present.
    let forged = (1u64 << 62) + 2;
    bytes[16..24].copy_from_slice(&forged.to_le_bytes());
    std::fs::write(&p, &bytes).unwrap();
    let e = Shard::open(&p).unwrap_err().to_string();
    assert!(e.contains(&format!("header says {forged} tokens")), "{e}");
    bytes[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&p, &bytes).unwrap();
    assert!(Shard::open(&p).is_err());
}

/// A Megatron `.idx` with the given header counts, followed by `sizes` and `pointers`.
fn megatron_idx(n: u64, docs: u64, sizes: &[i32], pointers: &[i64]) -> Vec<u8> {
    let mut b = b"MMIDIDX\x00\x00".to_vec();
    b.extend_from_slice(&1u64.to_le_bytes());
    b.push(8);
    b.extend_from_slice(&n.to_le_bytes());
    b.extend_from_slice(&docs.to_le_bytes());
    sizes
        .iter()
        .for_each(|s| b.extend_from_slice(&s.to_le_bytes()));
    pointers
        .iter()
        .for_each(|p| b.extend_from_slice(&p.to_le_bytes()));
    (0..=sizes.len() as i64).for_each(|d| b.extend_from_slice(&d.to_le_bytes()));
    b
}

#[test]
fn forged_megatron_index_counts_and_sizes_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("train");
    // Two sequences of 2 uint16 tokens each.
    std::fs::write(prefix.with_extension("bin"), [1, 0, 2, 0, 3, 0, 4, 0]).unwrap();
    let write_idx = |b: Vec<u8>| std::fs::write(prefix.with_extension("idx"), b).unwrap();
    write_idx(megatron_idx(2, 3, &[2, 2], &[0, 4]));
    assert_eq!(
        interop::read_megatron(&prefix).unwrap(),
        vec![vec![1, 2], vec![3, 4]]
    );
    // (idx, expected message)
    let cases = [
        // A count that, with_capacity'd, would ask for exabytes.
        (megatron_idx(u64::MAX, 3, &[2, 2], &[0, 4]), "declares"),
        (megatron_idx(1 << 40, 3, &[2, 2], &[0, 4]), "declares"),
        // `n · 12` wrapping to a small number.
        (
            megatron_idx((1u64 << 62) + 2, 3, &[2, 2], &[0, 4]),
            "declares",
        ),
        (megatron_idx(2, u64::MAX, &[2, 2], &[0, 4]), "declares"),
        (megatron_idx(2, 3, &[-1, 2], &[0, 4]), "negative size -1"),
        (megatron_idx(2, 3, &[i32::MIN, 2], &[0, 4]), "negative size"),
        (
            megatron_idx(2, 3, &[2, i32::MAX], &[0, 4]),
            "runs past the end",
        ),
        (
            megatron_idx(2, 3, &[2, 2], &[0, i64::MAX]),
            "runs past the end",
        ),
        (megatron_idx(2, 3, &[2, 2], &[0, -1]), "runs past the end"),
        // Overlapping sequences (each the whole file) would decode the same bytes repeatedly.
        (megatron_idx(2, 3, &[4, 4], &[0, 0]), "overlaps"),
    ];
    for (idx, want) in cases {
        write_idx(idx);
        let e = interop::read_megatron(&prefix).unwrap_err().to_string();
        assert!(e.contains(want), "{want}: {e}");
    }
}

#[test]
fn llmc_header_with_negative_or_huge_count_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("shard.bin");
    for count in [-1i32, i32::MAX, 3] {
        let mut header = [0i32; 256];
        header[0] = 20240520;
        header[1] = 1;
        header[2] = count;
        let mut bytes: Vec<u8> = header.iter().flat_map(|v| v.to_le_bytes()).collect();
        bytes.extend_from_slice(&[1, 0, 2, 0]);
        std::fs::write(&p, bytes).unwrap();
        let e = interop::read_tokens(&p, ImportFormat::Llmc)
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("header says {count} tokens")), "{e}");
    }
}

#[test]
fn manifest_split_total_disagreeing_with_its_shards_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = small_dataset(tmp.path());
    let mpath = ds.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&mpath).unwrap()).unwrap();
    // A forged total would size the permutation (8 bytes per sample) before any token is read.
    m["splits"]["train"]["tokens"] = serde_json::json!(u64::MAX);
    std::fs::write(&mpath, serde_json::to_vec(&m).unwrap()).unwrap();
    let e = Dataset::open(&ds).unwrap_err().to_string();
    assert!(
        e.contains("declares 18446744073709551615 tokens but its shards declare 400"),
        "{e}"
    );
}

#[test]
fn index_entry_whose_end_overflows_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = small_dataset(tmp.path());
    let ipath = ds.join("index.jsonl");
    let text = std::fs::read_to_string(&ipath).unwrap();
    let mut lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    lines[1]["start"] = serde_json::json!(u64::MAX - 1);
    let forged: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&ipath, &forged).unwrap();
    // Keep the manifest's hash in step, as a forger would.
    let mpath = ds.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&mpath).unwrap()).unwrap();
    m["index"]["sha256"] = serde_json::json!(glassbox_core::hash::sha256_hex(forged.as_bytes()));
    std::fs::write(&mpath, serde_json::to_vec(&m).unwrap()).unwrap();
    let e = Dataset::open(&ds).unwrap_err().to_string();
    assert!(e.contains("line 2") && e.contains("overflows"), "{e}");
}
