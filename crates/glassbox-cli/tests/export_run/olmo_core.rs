//! The OLMo-core export: its fixture, its files, its checkpoints brought back.

use super::*;

/// The same for OLMo-core's Trainer on the olmo-core export: its losses, evaluations and
/// step-20 logits (OLMo-core's model on its own checkpoint) are glassbox's.
#[test]
fn olmo_core_trains_the_exported_run_as_glassbox_does() {
    agrees_with_engine_fixture("olmo_core_losses.json", "olmo-core");
}

/// The OLMo-core export: instance k of data/instances.npy is the window glassbox trains on at
/// position k; the step-0 weights under OLMo-core's names are the run's step-0 weights; the
/// configs carry the recipe's settings; a model OLMo-core's Llama-like block cannot express is
/// refused, naming the key.
#[test]
fn the_olmo_core_export_holds_the_order_configs_and_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("export");
    let o = export_for("olmo-core", &recipe(), &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rec: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("export.json")).unwrap()).unwrap();
    assert_eq!(rec["engine"], "olmo-core");
    let (b, l) = (4usize, 32usize);
    let instances = read_u32(&out.join("data/instances.npy"));
    assert_eq!(instances.len(), 20 * b * (l + 1));
    let mut ds =
        glassbox_data::dataset::Dataset::open(&repo().join("tests/fixtures/train/dataset"))
            .unwrap();
    for step in 0..20u64 {
        for (r, row) in ds.batch(step, b, l, 7).unwrap().iter().enumerate() {
            let k = step as usize * b + r;
            assert_eq!(
                &instances[k * (l + 1)..(k + 1) * (l + 1)],
                &row.tokens[..],
                "step {step} row {r}"
            );
        }
    }
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(out.join("olmo_core").join(name)).unwrap())
            .unwrap()
    };
    let model = read("model.json");
    assert_eq!(model["d_model"], 64);
    assert_eq!(model["tie_word_embeddings"], true);
    assert_eq!(model["block"]["sequence_mixer"]["n_kv_heads"], 2);
    assert_eq!(model["block"]["sequence_mixer"]["rope"]["theta"], 10000);
    assert_eq!(model["block"]["feed_forward"]["hidden_size"], 176);
    let data = read("dataset.json");
    assert_eq!(data["sequence_length"], l + 1);
    assert_eq!(data["paths"], serde_json::json!(["data/instances.npy"]));
    let module = read("train_module.json");
    assert_eq!(module["rank_microbatch_size"], (b / 2) * (l + 1));
    assert_eq!(module["max_grad_norm"], 1.0);
    assert_eq!(module["optim"]["betas"], serde_json::json!([0.9, 0.95]));
    assert_eq!(module["optim"]["weight_decay"], 0.1);
    assert_eq!(
        module["optim"]["group_overrides"][0]["params"],
        serde_json::json!(["*norm.weight"])
    );
    assert_eq!(module["optim"]["lr"], rec["lr_schedule"][0]);
    // The step-0 weights: the run's, tensor for tensor, under OLMo-core's names.
    let run = tmp.path().join("run");
    train(&recipe(), &run);
    let (m, _) = Transformer::load(&run.join("checkpoints/step-0000000"), &Device::Cpu).unwrap();
    let cfg = m.config().clone();
    let back =
        glassbox_train::olmo_core::from_olmo_core(&cfg, &out.join("olmo_core/model.safetensors"))
            .unwrap();
    assert_same_tensors(&back, &m.named_tensors(), "step 0");
    let launch = std::fs::read_to_string(out.join("launch.sh")).unwrap();
    assert!(launch.contains("train_olmo_core.py") && out.join("train_olmo_core.py").is_file());
    // A Qwen2 model (q/k/v biases) has no counterpart in OLMo-core's Llama-like block.
    let text = std::fs::read_to_string(recipe()).unwrap();
    let dataset = repo().join("tests/fixtures/train/dataset");
    let qwen = text
        .replace(
            "dataset = \"dataset\"",
            &format!("dataset = {:?}", dataset.display().to_string()),
        )
        .replace(
            "preset = \"tiny\"",
            "hf = { architectures = [\"Qwen2ForCausalLM\"], model_type = \"qwen2\", hidden_size = 64, intermediate_size = 176, num_hidden_layers = 2, num_attention_heads = 4, num_key_value_heads = 2, vocab_size = 512, tie_word_embeddings = true, max_position_embeddings = 256 }",
        );
    let r = tmp.path().join("qwen.toml");
    std::fs::write(&r, qwen).unwrap();
    let o = export_for("olmo-core", &r, &tmp.path().join("out-qwen"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("`model.preset / model.config` has no counterpart"),
        "{err}"
    );
    assert!(!tmp.path().join("out-qwen").exists());
}

/// `import-run` on what train_olmo_core.py lays out (here made from glassbox's own run:
/// unsharded checkpoints under OLMo-core's names, the tied head stored twice, the log,
/// engine.json): the imported weights are the run's, run.json names OLMo-core and its version;
/// an engine record of another engine, a checkpoint with a tensor the model lacks and a tied
/// head that differs from the embedding are refused.
#[test]
fn import_run_renames_olmo_core_checkpoints_back() {
    let RoundTrip {
        tmp,
        exp,
        run,
        eng,
        engine,
        cfg,
    } = round_trip("olmo-core");
    let import = |eng: &Path, out: &Path| import_run(eng, &exp, out);
    // Refusals.
    let err = |o: std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
    let other = tmp.path().join("fsdp-engine");
    copy_dir(&eng, &other);
    let mut e = engine.clone();
    e["engine"] = "torch-fsdp".into();
    std::fs::write(other.join("engine.json"), e.to_string()).unwrap();
    assert!(
        err(import(&other, &tmp.path().join("o1")))
            .contains("names the engine torch-fsdp, but the export is for olmo-core")
    );
    let (m, _) = Transformer::load(&run.join("checkpoints/step-0000020"), &Device::Cpu).unwrap();
    let tensors = m.named_tensors();
    let bad = tmp.path().join("bad-engine");
    copy_dir(&eng, &bad);
    let file = bad.join("checkpoints/step-0000020/model.safetensors");
    // A tied head that is not the embedding.
    let mut names = glassbox_train::olmo_core::parameter_names(&cfg);
    let head = names.pop().unwrap();
    let mut olmo: Vec<(String, Tensor)> = names
        .iter()
        .map(|(hf, oc)| {
            let t = tensors.iter().find(|(n, _)| n == hf).unwrap().1.clone();
            (oc.clone(), t)
        })
        .collect();
    let embed = olmo[0].1.clone();
    olmo.push((head.1.clone(), (embed + 1.0).unwrap()));
    glassbox_model::weights::write_safetensors_file(&file, &olmo).unwrap();
    assert!(
        err(import(&bad, &tmp.path().join("o2")))
            .contains("`lm_head.w_out.weight` differs from the embedding it is tied to")
    );
    // A tensor the model does not have.
    olmo.pop();
    olmo.push((head.1, olmo[0].1.clone()));
    olmo.push(("blocks.9.attention.w_q.weight".into(), olmo[0].1.clone()));
    glassbox_model::weights::write_safetensors_file(&file, &olmo).unwrap();
    assert!(
        err(import(&bad, &tmp.path().join("o3")))
            .contains("holds `blocks.9.attention.w_q.weight`, which this model does not have")
    );
    assert!(!tmp.path().join("o1").exists() && !tmp.path().join("o2").exists());
}
