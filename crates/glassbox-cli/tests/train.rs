//! Training through the real binary: a run killed with SIGKILL (and one aborted in the middle of
//! writing a checkpoint) resumes to the same bits as an uninterrupted run; checkpoints are
//! model directories `glassbox generate` loads.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/train")
}

/// The fixture recipe with a checkpoint after every step (so that a kill is likely to land in
/// the middle of a checkpoint write) and `steps` steps.
fn recipe(dir: &Path, steps: u32) -> PathBuf {
    let text = std::fs::read_to_string(fixture().join("recipe.toml"))
        .unwrap()
        .replace(
            "dataset = \"dataset\"",
            &format!("dataset = \"{}\"", fixture().join("dataset").display()),
        )
        .replace("steps = 20", &format!("steps = {steps}"))
        .replace("schedule = \"pythia\"", "schedule = \"every\"")
        .replace("every = 1000", "every = 1");
    let p = dir.join("recipe.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn glassbox(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_glassbox"));
    c.args(args);
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// The final-weights hash of a successful `glassbox train` run.
fn trained(args: &[&str]) -> String {
    let out = glassbox(args, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "glassbox {args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let text = String::from_utf8(out.stdout).unwrap();
    let at = text.find("SHA-256 ").expect("summary names the hash") + 8;
    text[at..at + 64].to_string()
}

fn p(x: &Path) -> &str {
    x.to_str().unwrap()
}

#[test]
fn sigkill_and_a_crash_mid_checkpoint_both_resume_to_the_same_bits() {
    let tmp = tempfile::tempdir().unwrap();
    let r = recipe(tmp.path(), 30);
    let whole = trained(&["train", p(&r), "--out", p(&tmp.path().join("whole"))]);

    // SIGKILL once checkpoint 9 exists: the process is then training step 10 or writing its
    // checkpoint. Whatever it was doing, resume must find a valid checkpoint and end the same.
    let killed = tmp.path().join("killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(["train", p(&r), "--out", p(&killed)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !killed.join("checkpoints/step-0000009").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no checkpoint 9"
        );
        if child.try_wait().unwrap().is_some() {
            panic!("the run ended before it could be killed");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let resumed = trained(&["train", "--resume", p(&killed)]);
    assert_eq!(resumed, whole, "killed and resumed run differs");

    // Abort after the weights of checkpoint 12 are in its temporary directory, and after its
    // state.json is: the half-written checkpoint is never used; resume starts from 11.
    for phase in ["weights", "state"] {
        let crashed = tmp.path().join(format!("crashed-{phase}"));
        let out = glassbox(
            &["train", p(&r), "--out", p(&crashed)],
            &[("GLASSBOX_CRASH_AT", &format!("12:{phase}"))],
        );
        assert!(!out.status.success(), "the injected crash did not happen");
        let ck = crashed.join("checkpoints");
        assert!(!ck.join("step-0000012").exists());
        let names: Vec<String> = std::fs::read_dir(&ck)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().any(|n| n.starts_with(".tmp-step-0000012")),
            "{names:?}"
        );
        let out = glassbox(&["train", "--resume", p(&crashed)], &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(
            err.contains("removed the unfinished .tmp-step-0000012"),
            "{err}"
        );
        assert!(err.contains("step 11"), "{err}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains(&whole), "{text}");
    }

    // Every checkpoint is a model directory: glassbox generate loads it and continues text.
    let out = glassbox(
        &[
            "generate",
            "--model",
            p(&tmp.path().join("whole/checkpoints/step-0000030")),
            "--prompt",
            "In the beginning",
            "--max-new-tokens",
            "8",
            "--greedy",
            "--json",
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["completion"]["tokens"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "{v}"
    );
}

/// `--device`: `cpu` trains the bits of the default; on a build without the `cuda` feature,
/// `cuda` is refused before anything is written, saying how to get a CUDA build, for training
/// and for inference; a device that is not one is refused by name. run.json records the device,
/// and a release of a run recorded as trained on a GPU says so and is verified on the CPU within
/// a tolerance, with no replay mark.
#[test]
fn the_device_is_chosen_recorded_and_refused_when_absent() {
    let tmp = tempfile::tempdir().unwrap();
    let r = recipe(tmp.path(), 4);
    let default = trained(&["train", p(&r), "--out", p(&tmp.path().join("default"))]);
    let cpu = tmp.path().join("cpu");
    let explicit = trained(&["train", p(&r), "--out", p(&cpu), "--device", "cpu"]);
    assert_eq!(default, explicit);
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cpu.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["device"], "cpu");
    if !cfg!(feature = "cuda") {
        let gpu = tmp.path().join("gpu");
        let out = glassbox(&["train", p(&r), "--out", p(&gpu), "--device", "cuda"], &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("--features cuda"),
            "{err}"
        );
        assert!(!gpu.exists(), "nothing written");
        let ck = cpu.join("checkpoints/step-0000004");
        let out = glassbox(
            &[
                "generate",
                "--model",
                p(&ck),
                "--prompt",
                "a",
                "--device",
                "cuda:1",
            ],
            &[],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success()
                && err.contains("cuda:1 needs a glassbox built with the `cuda` feature"),
            "{err}"
        );
    }
    // A series of checkpoints is evaluated on the CPU: --device there is refused, not ignored.
    let out = glassbox(
        &[
            "eval",
            "--run",
            p(&cpu),
            "--task",
            "heldout",
            "--device",
            "cuda",
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("applies to --model"),
        "{err}"
    );
    let out = glassbox(
        &[
            "train",
            p(&r),
            "--out",
            p(&tmp.path().join("x")),
            "--device",
            "tpu",
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("`tpu` is not a device"),
        "{err}"
    );
    // A run recorded as trained on a GPU (the record edited here: no GPU in CI).
    let mut run = run;
    run["device"] = "cuda:0".into();
    std::fs::write(cpu.join("run.json"), run.to_string()).unwrap();
    let bundle = tmp.path().join("bundle");
    let out = glassbox(&["release", p(&cpu), "--out", p(&bundle)], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let card = std::fs::read_to_string(bundle.join("README.md")).unwrap();
    assert!(card.contains("It was trained on cuda:0."), "{card}");
    assert!(!card.contains("replay any part of its training to the same bits"));
    let out = glassbox(&["verify", p(&bundle)], &[]);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("trained on cuda:0, whose arithmetic is not the CPU's")
            && text.contains("no replay mark"),
        "{text}"
    );
    // The record of the verification holds no replayed interval: no replay mark.
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("verification.json")).unwrap())
            .unwrap();
    assert!(v["replay"].get("to").is_none(), "{v}");
}
