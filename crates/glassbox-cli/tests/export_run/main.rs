//! `glassbox export-run --engine torch-fsdp|olmo-core|megatron`: the export holds glassbox's
//! exact data order and settings, and each engine trained from it (2 processes, gloo, CPU:
//! PyTorch FSDP, `tests/fixtures/export/make_fsdp_fixture.py`; OLMo-core's Trainer,
//! `make_olmo_core_fixture.py`; Megatron-Core, `make_megatron_fixture.py`) gives glassbox's own
//! losses and weights; `import-run` brings each engine's checkpoints back. CI compares with the
//! committed fixtures; it needs neither torch nor the engines. The shared helpers and the
//! torch-fsdp tests are here, the other engines' in `olmo_core.rs` and `megatron.rs`.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::{Device, Tensor};
use glassbox_model::{Logits, Transformer};
use serde_json::Value;

mod megatron;
mod olmo_core;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn glassbox(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(args)
        .output()
        .unwrap()
}

fn export(recipe: &Path, out: &Path) -> std::process::Output {
    export_for("torch-fsdp", recipe, out)
}

fn export_for(engine: &str, recipe: &Path, out: &Path) -> std::process::Output {
    glassbox(&[
        "export-run".as_ref(),
        recipe.as_os_str(),
        "--engine".as_ref(),
        engine.as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ])
}

fn import_run(engine_out: &Path, export: &Path, out: &Path) -> std::process::Output {
    glassbox(&[
        "import-run".as_ref(),
        engine_out.as_os_str(),
        "--export".as_ref(),
        export.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ])
}

fn train(recipe: &Path, run: &Path) {
    let o = glassbox(&[
        "train".as_ref(),
        recipe.as_os_str(),
        "--out".as_ref(),
        run.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// One field of every line of a run's `logs/train.jsonl`.
fn logged(run: &Path, field: &str) -> Vec<f64> {
    std::fs::read_to_string(run.join("logs/train.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()[field]
                .as_f64()
                .unwrap()
        })
        .collect()
}

fn recipe() -> PathBuf {
    repo().join("tests/fixtures/train/recipe.toml")
}

/// The parity recipe with a held-out evaluation every 5 steps, as the fixture was made, written
/// into `dir` (the dataset by absolute path).
fn recipe_with_eval(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(recipe()).unwrap();
    let dataset = repo().join("tests/fixtures/train/dataset");
    let r = dir.join("recipe-eval.toml");
    std::fs::write(
        &r,
        text.replace(
            "dataset = \"dataset\"",
            &format!("dataset = {:?}", dataset.display().to_string()),
        )
        .replace("interval = 0", "interval = 5"),
    )
    .unwrap();
    r
}

fn fixture(name: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/fixtures/export").join(name)).unwrap(),
    )
    .unwrap()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// glassbox's own run of the recipe and PyTorch FSDP's run of its export agree: per-step losses
/// within 1e-4 relative, and the step-20 weights give the same logits (1e-4) on the probe.
#[test]
fn fsdp_trains_the_exported_run_as_glassbox_does() {
    agrees_with_engine_fixture("fsdp_losses.json", "torch-fsdp");
}

/// One engine run of a fixture (`losses`, `eval`) against glassbox's own run: per-step losses
/// and held-out losses at the same steps, within 1e-4 relative.
fn agrees_with_engine_run(run: &Path, f: &Value, engine: &str) {
    let ours = logged(run, "loss");
    let theirs = f64s(&f["losses"]);
    assert_eq!(ours.len(), 20);
    assert_eq!(theirs.len(), 20);
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        let rel = (a - b).abs() / b.abs();
        assert!(
            rel < 1e-4,
            "step {}: glassbox {a}, {engine} {b} (relative {rel:.2e})",
            i + 1
        );
    }
    // The held-out evaluations: the same steps, the same losses.
    let evals: Vec<(u64, f64)> = std::fs::read_to_string(run.join("logs/eval.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["step"].as_u64().unwrap(), v["loss"].as_f64().unwrap())
        })
        .collect();
    let theirs: Vec<(u64, f64)> = f["eval"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e[0].as_u64().unwrap(), e[1].as_f64().unwrap()))
        .collect();
    assert_eq!(
        evals.iter().map(|e| e.0).collect::<Vec<_>>(),
        theirs.iter().map(|e| e.0).collect::<Vec<_>>(),
        "evaluated at the same steps"
    );
    assert!(evals.len() >= 4, "{evals:?}");
    for ((s, a), (_, b)) in evals.iter().zip(&theirs) {
        let rel = (a - b).abs() / b.abs();
        assert!(rel < 1e-4, "eval at step {s}: glassbox {a}, {engine} {b}");
    }
}

fn agrees_with_engine_fixture(name: &str, engine: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    train(&recipe_with_eval(tmp.path()), &run);
    let f = fixture(name);
    assert_eq!(f["engine"]["engine"], engine);
    assert_eq!(
        f["engine"]["world_size"], 2,
        "the fixture ran on two processes"
    );
    agrees_with_engine_run(&run, &f, engine);
    if let Some(other) = f.get("data_parallel_run") {
        agrees_with_engine_run(&run, other, &format!("{engine} (data parallel)"));
    }
    // The launch stopped after step 10 and launched again resumed to the uninterrupted launch's
    // losses and evaluations, bit for bit.
    let resumed = &f["resumed"];
    assert_eq!(resumed["losses"], f["losses"], "{engine}: resumed losses");
    assert_eq!(resumed["eval"], f["eval"], "{engine}: resumed evaluations");
    // The step-20 weights: logits of the probe at its first and last position.
    let (m, _) = Transformer::load(&run.join("checkpoints/step-0000020"), &Device::Cpu).unwrap();
    let probe: Vec<u32> = f["probe"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect();
    let t = probe.len();
    let ids = Tensor::from_vec(probe, (1, t), &Device::Cpu).unwrap();
    let logits: Vec<Vec<f32>> = m
        .forward(&ids, &[], None, Logits::All)
        .unwrap()
        .squeeze(0)
        .unwrap()
        .to_vec2()
        .unwrap();
    for (row, key) in [
        (0, "step_20_logits_first_position"),
        (t - 1, "step_20_logits_last_position"),
    ] {
        let want = f64s(&f[key]);
        let worst = logits[row]
            .iter()
            .zip(&want)
            .map(|(a, b)| (f64::from(*a) - b).abs())
            .fold(0f64, f64::max);
        assert!(worst < 1e-4, "{engine} {key}: max |diff| {worst:.2e}");
    }
}

fn read_u32(p: &Path) -> Vec<u32> {
    std::fs::read(p)
        .unwrap()
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn read_u64(p: &Path) -> Vec<u64> {
    std::fs::read(p)
        .unwrap()
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// The export: every batch rebuilt from tokens.bin and order.bin is the batch glassbox trains on;
/// the step-0 weights are the run's; every setting is mapped; keys without a counterpart and an
/// existing directory are refused, naming the key.
#[test]
fn the_export_holds_the_data_order_weights_and_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("export");
    let o = export(&recipe(), &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rec: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("export.json")).unwrap()).unwrap();
    assert_eq!(rec["schema_version"], 1);
    assert_eq!(rec["engine"], "torch-fsdp");
    let (b, l) = (4usize, 32usize);
    let tokens = read_u32(&out.join("data/tokens.bin"));
    let order = read_u64(&out.join("data/order.bin"));
    assert_eq!(order.len(), 20 * b);
    let mut ds =
        glassbox_data::dataset::Dataset::open(&repo().join("tests/fixtures/train/dataset"))
            .unwrap();
    for step in 0..20u64 {
        let rows = ds.batch(step, b, l, 7).unwrap();
        for (r, row) in rows.iter().enumerate() {
            let i = order[step as usize * b + r] as usize;
            assert_eq!(
                &tokens[i * l..i * l + l + 1],
                &row.tokens[..],
                "step {step} row {r}"
            );
        }
    }
    // The learning rate of every step, and the checkpoint steps, as glassbox runs them.
    let lrs = f64s(&rec["lr_schedule"]);
    assert_eq!(lrs.len(), 20);
    assert_eq!(
        rec["checkpoint_steps"],
        serde_json::json!([0, 1, 2, 4, 8, 16, 20])
    );
    let keys: Vec<&str> = rec["mapping"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap())
        .collect();
    for k in [
        "optim.lr",
        "optim.betas",
        "train.grad_accum",
        "train.max_grad_norm",
        "data.seed",
    ] {
        assert!(keys.contains(&k), "{k} mapped: {keys:?}");
    }
    // The step-0 weights are those glassbox's own run starts from.
    let run = tmp.path().join("run");
    train(&recipe(), &run);
    // The whole model directory is the step-0 checkpoint's: weights, config, tokenizer and
    // generation files, byte for byte.
    for f in [
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
    ] {
        let a = std::fs::read(out.join("model").join(f)).unwrap();
        let c = std::fs::read(run.join("checkpoints/step-0000000").join(f)).unwrap();
        assert_eq!(a, c, "the exported {f} is the step-0 checkpoint's");
    }
    assert_eq!(
        lrs,
        logged(&run, "lr"),
        "the learning rate of every step, as glassbox used it"
    );
    for f in [
        "launch.sh",
        "train_fsdp.py",
        "engine_common.py",
        "recipe.toml",
        "model/config.json",
        "model/tokenizer.json",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    // Refusals: an existing directory; keys without a counterpart.
    let o = export(&recipe(), &out);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("exists already"));
    let text = std::fs::read_to_string(recipe()).unwrap();
    let dataset = repo().join("tests/fixtures/train/dataset");
    let base = text.replace(
        "dataset = \"dataset\"",
        &format!("dataset = {:?}", dataset.display().to_string()),
    );
    // A chat dataset (instruction tuning) has no counterpart in the exported loop.
    let chat = tmp.path().join("chat-data");
    std::fs::create_dir_all(&chat).unwrap();
    std::fs::write(chat.join("manifest.json"), r#"{"kind": "chat"}"#).unwrap();
    let chat_recipe = text.replace(
        "dataset = \"dataset\"",
        &format!("dataset = {:?}", chat.display().to_string()),
    );
    for (edit, key) in [
        (chat_recipe, "data.dataset"),
        (
            base.replace("every = 1000", "every = 1000\nkeep_unscheduled = 2"),
            "checkpoints.keep_unscheduled",
        ),
        (
            format!("{base}\n[lora]\nr = 4\nalpha = 8.0\ntargets = [\"q_proj\"]\n"),
            "lora",
        ),
    ] {
        let r = tmp.path().join(format!("{key}.toml"));
        std::fs::write(&r, edit).unwrap();
        let o = export(&r, &tmp.path().join(format!("out-{key}")));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{key}");
        assert!(
            err.contains(&format!("`{key}` has no counterpart")),
            "{key}: {err}"
        );
        assert!(
            !tmp.path().join(format!("out-{key}")).exists(),
            "nothing written for {key}"
        );
    }
    // A failure while writing (the dataset's tokenizer is gone) leaves nothing behind either.
    let broken = tmp.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    let data = broken.join("dataset");
    copy_dir(&dataset, &data);
    std::fs::remove_file(data.join("tokenizer.json")).unwrap();
    let r = broken.join("recipe.toml");
    std::fs::write(
        &r,
        text.replace(
            "dataset = \"dataset\"",
            &format!("dataset = {:?}", data.display().to_string()),
        ),
    )
    .unwrap();
    let o = export(&r, &broken.join("out"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("tokenizer.json"),
        "{err}"
    );
    let left: Vec<String> = std::fs::read_dir(&broken)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left.len(),
        2,
        "only the recipe and the dataset remain: {left:?}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap();
        if p.is_dir() {
            copy_dir(&p, &to.join(name));
        } else {
            std::fs::copy(&p, to.join(name)).unwrap();
        }
    }
}

/// `import-run` on what the exported loop writes (here made from glassbox's own run of the same
/// recipe: Hugging Face checkpoints without glassbox's state, the log, engine.json): a run
/// directory `eval --run` reads, every checkpoint hashed in its state.json, run.json naming the
/// engine; an engine output of another export, a log with a gap and an existing directory are
/// refused.
#[test]
fn import_run_brings_the_engine_output_back_as_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (exp, run) = (tmp.path().join("export"), tmp.path().join("native"));
    assert!(export(&recipe(), &exp).status.success());
    train(&recipe(), &run);
    let rec: Value =
        serde_json::from_str(&std::fs::read_to_string(exp.join("export.json")).unwrap()).unwrap();
    // The engine's output, as train_fsdp.py lays it out.
    let eng = tmp.path().join("engine-run");
    for step in [0u64, 1, 2, 4, 8, 16, 20] {
        let src = run.join(format!("checkpoints/step-{step:07}"));
        let dst = eng.join(format!("checkpoints/step-{step:07}"));
        std::fs::create_dir_all(&dst).unwrap();
        for f in ["config.json", "model.safetensors", "tokenizer.json"] {
            std::fs::copy(src.join(f), dst.join(f)).unwrap();
        }
    }
    copy_dir(&run.join("logs"), &eng.join("logs"));
    let engine = serde_json::json!({"schema_version": 1, "engine": "torch-fsdp", "torch": "test", "transformers": "test",
        "world_size": 2, "backend": "gloo", "steps": 20, "export_recipe_sha256": rec["recipe_sha256"]});
    std::fs::write(eng.join("engine.json"), engine.to_string()).unwrap();
    let imported = tmp.path().join("imported");
    let o = import_run(&eng, &exp, &imported);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(imported.join("run.json")).unwrap()).unwrap();
    assert_eq!(info["trained_by"]["engine"], "torch-fsdp");
    assert_eq!(info["trained_by"]["world_size"], 2);
    assert_eq!(info["total_steps"], 20);
    let idx: Value = serde_json::from_str(
        &std::fs::read_to_string(imported.join("checkpoints/index.json")).unwrap(),
    )
    .unwrap();
    let steps: Vec<u64> = idx["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["step"].as_u64().unwrap())
        .collect();
    assert_eq!(
        steps,
        [0, 1, 2, 4, 8, 16, 20],
        "every checkpoint hashed and valid"
    );
    assert_eq!(logged(&imported, "loss"), logged(&run, "loss"));
    let o = glassbox(&[
        "eval".as_ref(),
        "--run".as_ref(),
        imported.as_os_str(),
        "--task".as_ref(),
        "heldout".as_ref(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(imported.join("evals/heldout.jsonl").is_file());
    // Released, the bundle says where it was trained; verify replays its first steps from the
    // step-0 weights within the engine tolerance (here the "engine" is glassbox: no difference)
    // and refuses a replay from a later checkpoint, which has no optimiser state.
    let bundle = tmp.path().join("bundle");
    let o = glassbox(&[
        "release".as_ref(),
        imported.as_os_str(),
        "--out".as_ref(),
        bundle.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rel: Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("release.json")).unwrap())
            .unwrap();
    assert_eq!(rel["trained_by"]["engine"], "torch-fsdp");
    let card = std::fs::read_to_string(bundle.join("README.md")).unwrap();
    assert!(card.contains("trained by torch-fsdp"), "{card}");
    assert!(!card.contains("replay any part of its training to the same bits"));
    let o = glassbox(&[
        "verify".as_ref(),
        bundle.as_os_str(),
        "--to".as_ref(),
        "4".as_ref(),
    ]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("steps 0 → 4 replayed from checkpoint 0: all") && out.contains("within 1e-4"),
        "{out}"
    );
    let o = glassbox(&[
        "verify".as_ref(),
        bundle.as_os_str(),
        "--from".as_ref(),
        "4".as_ref(),
        "--to".as_ref(),
        "8".as_ref(),
    ]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && out.contains("only step 0 carries optimiser state"),
        "{out}"
    );
    // Refusals.
    let again = |eng: &Path, out: &Path| import_run(eng, &exp, out);
    let err = |o: std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(err(again(&eng, &imported)).contains("exists already"));
    let other = tmp.path().join("other-engine");
    copy_dir(&eng, &other);
    std::fs::write(
        other.join("engine.json"),
        r#"{"schema_version": 1, "engine": "torch-fsdp", "export_recipe_sha256": "0000"}"#,
    )
    .unwrap();
    assert!(err(again(&other, &tmp.path().join("o1"))).contains("was trained from another export"));
    let gap = tmp.path().join("gap-engine");
    copy_dir(&eng, &gap);
    let log = std::fs::read_to_string(gap.join("logs/train.jsonl")).unwrap();
    let cut: Vec<&str> = log
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 4)
        .map(|(_, l)| l)
        .collect();
    std::fs::write(gap.join("logs/train.jsonl"), cut.join("\n") + "\n").unwrap();
    assert!(err(again(&gap, &tmp.path().join("o2"))).contains("line 5: expected step 5"));
    assert!(!tmp.path().join("o1").exists() && !tmp.path().join("o2").exists());
}

/// Both lists hold the same names with equal values.
fn assert_same_tensors(a: &[(String, Tensor)], b: &[(String, Tensor)], what: &str) {
    let b: std::collections::BTreeMap<&str, &Tensor> =
        b.iter().map(|(n, t)| (n.as_str(), t)).collect();
    assert_eq!(a.len(), b.len(), "{what}: tensor count");
    for (name, t) in a {
        let diff = (t - b[name.as_str()])
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(diff, 0.0, "{what}: {name}");
    }
}

/// An engine output made from glassbox's own run of the parity recipe (every checkpoint's
/// weights written under the engine's names, the log, engine.json), imported; checked that the
/// imported weights are the run's, tensor for tensor, and that run.json names the engine.
struct RoundTrip {
    tmp: tempfile::TempDir,
    exp: PathBuf,
    run: PathBuf,
    eng: PathBuf,
    engine: Value,
    cfg: glassbox_model::ModelConfig,
}

fn round_trip(engine_name: &str) -> RoundTrip {
    let tmp = tempfile::tempdir().unwrap();
    let (exp, run) = (tmp.path().join("export"), tmp.path().join("native"));
    assert!(export_for(engine_name, &recipe(), &exp).status.success());
    train(&recipe(), &run);
    let rec: Value =
        serde_json::from_str(&std::fs::read_to_string(exp.join("export.json")).unwrap()).unwrap();
    let (library, config) = match engine_name {
        "olmo-core" => ("olmo_core", "olmo_core/model.json"),
        _ => ("megatron_core", "megatron/model.json"),
    };
    let eng = tmp.path().join("engine-run");
    let mut cfg = None;
    for step in [0u64, 1, 2, 4, 8, 16, 20] {
        let src = run.join(format!("checkpoints/step-{step:07}"));
        let dst = eng.join(format!("checkpoints/step-{step:07}"));
        std::fs::create_dir_all(&dst).unwrap();
        let (m, _) = Transformer::load(&src, &Device::Cpu).unwrap();
        let file = dst.join("model.safetensors");
        match engine_name {
            "olmo-core" => {
                glassbox_train::olmo_core::to_olmo_core(m.config(), &m.named_tensors(), &file)
            }
            _ => glassbox_train::megatron::to_megatron(m.config(), &m.named_tensors(), &file),
        }
        .unwrap();
        std::fs::copy(exp.join(config), dst.join("model.json")).unwrap();
        cfg = Some(m.config().clone());
    }
    copy_dir(&run.join("logs"), &eng.join("logs"));
    let mut engine = serde_json::json!({"schema_version": 1, "engine": engine_name, "torch": "test",
        "world_size": 2, "backend": "gloo", "steps": 20, "export_recipe_sha256": rec["recipe_sha256"]});
    engine[library] = "test".into();
    std::fs::write(eng.join("engine.json"), engine.to_string()).unwrap();
    let imported = tmp.path().join("imported");
    let o = import_run(&eng, &exp, &imported);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(imported.join("run.json")).unwrap()).unwrap();
    assert_eq!(info["trained_by"]["engine"], engine_name);
    assert_eq!(info["trained_by"][library], "test");
    assert!(info["trained_by"].get("transformers").is_none());
    for step in [0u64, 8, 20] {
        let ck = format!("checkpoints/step-{step:07}");
        let (a, _) = Transformer::load(&imported.join(&ck), &Device::Cpu).unwrap();
        let (b, _) = Transformer::load(&run.join(&ck), &Device::Cpu).unwrap();
        assert_same_tensors(&a.named_tensors(), &b.named_tensors(), &ck);
    }
    assert_eq!(logged(&imported, "loss"), logged(&run, "loss"));
    RoundTrip {
        tmp,
        exp,
        run,
        eng,
        engine,
        cfg: cfg.unwrap(),
    }
}
