//! Checkpoints: state_dict names both ways, metadata, and clear errors on wrong files.

mod common;
use common::*;
use gruwave::model::{
    init_params, load_model, save_model, serialize_f32, ModelConfig, ParamKind, ParamLayout,
};
use std::collections::HashMap;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn save_then_load_round_trips_with_metadata() {
    let layout = ParamLayout::new(&ModelConfig::new(16, 8, 12, 2).unwrap());
    let p = init_params(&layout, 1);
    let d = tmp();
    let f = d.path().join("m.safetensors");
    save_model(&f, &layout, &p, 22050).unwrap();
    let ck = load_model(&f).unwrap();
    assert_eq!(ck.layout, layout);
    assert_eq!(ck.params, p);
    assert_eq!(ck.sample_rate, 22050);
    let names: Vec<String> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .collect();
    assert_eq!(names, vec!["m.safetensors"], "no temporary file is left");
}

#[test]
fn the_same_model_always_gives_the_same_bytes() {
    // Metadata order must not depend on the process's hash seed: save from two processes'
    // worth of maps by saving many times (each HashMap gets a fresh random state).
    let layout = ParamLayout::new(&ModelConfig::new(16, 8, 12, 2).unwrap());
    let p = init_params(&layout, 1);
    let d = tmp();
    let f = d.path().join("m.safetensors");
    save_model(&f, &layout, &p, 16000).unwrap();
    let first = std::fs::read(&f).unwrap();
    for _ in 0..20 {
        save_model(&f, &layout, &p, 16000).unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), first);
    }
    assert_eq!(load_model(&f).unwrap().params, p);
}

/// A plain PyTorch `save_file(model.state_dict())` (no metadata) loads, shapes and all.
#[test]
fn pytorch_state_dict_without_metadata_loads() {
    let fx = Fixture::open("gru_lm_small.safetensors");
    let layout = ParamLayout::new(&fx.config());
    let flat = fx.params(&layout, "");
    let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = layout
        .entries
        .iter()
        .map(|e| {
            (
                e.name.clone(),
                e.shape.clone(),
                flat[e.offset..e.offset + e.len]
                    .iter()
                    .map(|&x| x as f32)
                    .collect(),
            )
        })
        .collect();
    let bytes = serialize_f32(
        tensors
            .iter()
            .map(|(n, s, d)| (n.clone(), s.clone(), d.as_slice())),
        HashMap::new(),
    )
    .unwrap();
    let d = tmp();
    let f = d.path().join("torch.safetensors");
    std::fs::write(&f, bytes).unwrap();
    let ck = load_model(&f).unwrap();
    assert_eq!(ck.layout.config, fx.config());
    assert_eq!(ck.sample_rate, 16000);
    assert_eq!(
        layout.view(&ck.params, ParamKind::HeadBias),
        fx.f32("head.bias").as_slice()
    );
}

fn write_without(
    skip: &str,
    reshape: Option<&str>,
    extra: Option<&str>,
) -> (tempfile::TempDir, std::path::PathBuf) {
    let layout = ParamLayout::new(&ModelConfig::new(5, 3, 4, 1).unwrap());
    let p = init_params(&layout, 0);
    let mut t: Vec<(String, Vec<usize>, Vec<f32>)> = layout
        .entries
        .iter()
        .filter(|e| e.name != skip)
        .map(|e| {
            let mut shape = e.shape.clone();
            let mut data = p[e.offset..e.offset + e.len].to_vec();
            if reshape == Some(e.name.as_str()) {
                shape[0] += 1;
                data.extend(vec![0.0; e.len / e.shape[0]]);
            }
            (e.name.clone(), shape, data)
        })
        .collect();
    if let Some(x) = extra {
        t.push((x.to_string(), vec![2], vec![0.0, 1.0]));
    }
    let bytes = serialize_f32(
        t.iter()
            .map(|(n, s, d)| (n.clone(), s.clone(), d.as_slice())),
        HashMap::new(),
    )
    .unwrap();
    let d = tmp();
    let f = d.path().join("bad.safetensors");
    std::fs::write(&f, bytes).unwrap();
    (d, f)
}

#[test]
fn missing_extra_or_misshaped_tensors_are_named() {
    let (_d, f) = write_without("gru.bias_hh_l0", None, None);
    let e = format!("{:#}", load_model(&f).unwrap_err());
    assert!(
        e.contains("gru.bias_hh_l0") && e.contains("bad.safetensors"),
        "{e}"
    );
    let (_d, f) = write_without("", Some("head.weight"), None);
    let e = format!("{:#}", load_model(&f).unwrap_err());
    assert!(e.contains("head.weight") && e.contains("shape"), "{e}");
    let (_d, f) = write_without("", None, Some("optimizer.step"));
    let e = format!("{:#}", load_model(&f).unwrap_err());
    assert!(
        e.contains("optimizer.step") && e.contains("unexpected"),
        "{e}"
    );
}

#[test]
fn files_that_are_not_models_get_clear_errors() {
    let d = tmp();
    let f = d.path().join("junk.safetensors");
    std::fs::write(&f, b"definitely not safetensors").unwrap();
    let e = format!("{:#}", load_model(&f).unwrap_err());
    assert!(
        e.contains("junk.safetensors") && e.contains("not a safetensors"),
        "{e}"
    );
    let e = format!(
        "{:#}",
        load_model(&fixture_path("mulaw.safetensors")).unwrap_err()
    );
    assert!(
        e.contains("not a GRU-LM checkpoint") && e.contains("embedding.weight"),
        "{e}"
    );
    let e = format!(
        "{:#}",
        load_model(&d.path().join("missing.safetensors")).unwrap_err()
    );
    assert!(e.contains("missing.safetensors"), "{e}");
}

#[test]
fn init_follows_pytorch_defaults_and_is_seeded() {
    let layout = ParamLayout::new(&ModelConfig::new(256, 32, 64, 2).unwrap());
    let a = init_params(&layout, 9);
    assert_eq!(a, init_params(&layout, 9));
    assert_ne!(a, init_params(&layout, 10));
    let emb = layout.view(&a, ParamKind::Embedding);
    let mean = emb.iter().map(|&x| x as f64).sum::<f64>() / emb.len() as f64;
    let var = emb.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / emb.len() as f64;
    assert!(
        mean.abs() < 0.05 && (var - 1.0).abs() < 0.05,
        "N(0,1): mean {mean} var {var}"
    );
    for kind in [
        ParamKind::WeightHh(1),
        ParamKind::BiasIh(0),
        ParamKind::HeadWeight,
    ] {
        let w = layout.view(&a, kind);
        let bound = 1.0 / 8.0;
        assert!(
            w.iter().all(|&x| x.abs() <= bound),
            "{kind:?} within 1/sqrt(H)"
        );
        let max = w.iter().fold(0.0f32, |m, &x| m.max(x.abs()));
        assert!(max > 0.9 * bound, "{kind:?} fills its range");
    }
}
