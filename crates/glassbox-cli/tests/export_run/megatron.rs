//! The Megatron-Core export: its fixture, its files, its checkpoints brought back.

use super::*;

/// Megatron-Core's tensor-parallel run (2 ranks) and data-parallel run (2 replicas) of the
/// megatron export give glassbox's losses, evaluations and step-20 logits.
#[test]
fn megatron_trains_the_exported_run_as_glassbox_does() {
    agrees_with_engine_fixture("megatron_losses.json", "megatron");
    assert_eq!(
        fixture("megatron_losses.json")["engine"]["tensor_parallel"],
        2
    );
}

/// The megatron export: sequence k of the indexed dataset (read with glassbox's own reader of
/// the format) is the window glassbox trains on at position k; the step-0 weights in
/// Megatron-Core's layouts convert back to the run's exactly; model.json carries the shape and
/// the Megatron-LM flags; launch.sh takes the tensor-parallel size.
#[test]
fn the_megatron_export_holds_the_order_model_and_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("export");
    let o = export_for("megatron", &recipe(), &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (b, l) = (4usize, 32usize);
    let seqs = glassbox_data::interop::read_megatron(&out.join("data/instances")).unwrap();
    assert_eq!(seqs.len(), 20 * b);
    let mut ds =
        glassbox_data::dataset::Dataset::open(&repo().join("tests/fixtures/train/dataset"))
            .unwrap();
    for step in 0..20u64 {
        for (r, row) in ds.batch(step, b, l, 7).unwrap().iter().enumerate() {
            assert_eq!(
                seqs[step as usize * b + r],
                row.tokens,
                "step {step} row {r}"
            );
        }
    }
    let mc: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("megatron/model.json")).unwrap())
            .unwrap();
    assert_eq!(mc["transformer"]["num_query_groups"], 2);
    assert_eq!(mc["transformer"]["ffn_hidden_size"], 176);
    assert_eq!(mc["gpt"]["share_embeddings_and_output_weights"], true);
    let flags: Vec<&str> = mc["megatron_lm_flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(flags.contains(&"--num-query-groups 2") && flags.contains(&"--swiglu"));
    let run = tmp.path().join("run");
    train(&recipe(), &run);
    let (m, _) = Transformer::load(&run.join("checkpoints/step-0000000"), &Device::Cpu).unwrap();
    let back = glassbox_train::megatron::from_megatron(
        m.config(),
        &out.join("megatron/model.safetensors"),
    )
    .unwrap();
    assert_same_tensors(&back, &m.named_tensors(), "step 0");
    // The fused layouts: a query group's rows are its query heads, then its key and value heads.
    let f = glassbox_model::safetensors_io::SafetensorsFile::open(
        &out.join("megatron/model.safetensors"),
    )
    .unwrap();
    let qkv = f
        .load_f32(
            "decoder.layers.0.self_attention.linear_qkv.weight",
            &Device::Cpu,
        )
        .unwrap();
    let named = m.named_tensors();
    let get = |n: &str| named.iter().find(|(k, _)| k == n).unwrap().1.clone();
    let k = get("model.layers.0.self_attn.k_proj.weight");
    // Group 1 starts after group 0's 2 query heads + key + value (4 heads of 16 rows); its key
    // head follows its 2 query heads.
    let group1_key = qkv.narrow(0, 64 + 32, 16).unwrap();
    assert_same_tensors(
        &[("k".into(), group1_key)],
        &[("k".into(), k.narrow(0, 16, 16).unwrap())],
        "group 1 key head",
    );
    let launch = std::fs::read_to_string(out.join("launch.sh")).unwrap();
    assert!(launch.contains("--tensor-parallel \"${TP:-1}\""));
    assert!(out.join("train_megatron.py").is_file());
}

/// `import-run` on what train_megatron.py lays out (here made from glassbox's own run: gathered
/// tensors in Megatron-Core's names and layouts): the imported weights are the run's; a fused
/// tensor of the wrong shape is refused, naming it.
#[test]
fn import_run_unfuses_megatron_checkpoints_back() {
    let RoundTrip {
        tmp, exp, eng, cfg, ..
    } = round_trip("megatron");
    let bad = tmp.path().join("bad-engine");
    copy_dir(&eng, &bad);
    let file = bad.join("checkpoints/step-0000008/model.safetensors");
    let f = glassbox_model::safetensors_io::SafetensorsFile::open(&file).unwrap();
    let mut tensors: Vec<(String, Tensor)> = f
        .tensors()
        .keys()
        .map(|n| (n.clone(), f.load_f32(n, &Device::Cpu).unwrap()))
        .collect();
    drop(f);
    let fc1 = "decoder.layers.1.mlp.linear_fc1.weight";
    let i = tensors.iter().position(|(n, _)| n == fc1).unwrap();
    tensors[i].1 = tensors[i].1.narrow(0, 0, cfg.intermediate_size).unwrap();
    glassbox_model::weights::write_safetensors_file(&file, &tensors).unwrap();
    let o = import_run(&bad, &exp, &tmp.path().join("o1"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success()
            && err.contains(&format!(
                "`{fc1}` has shape [176, 64], the model needs [352, 64]"
            )),
        "{err}"
    );
    assert!(!tmp.path().join("o1").exists());
}
