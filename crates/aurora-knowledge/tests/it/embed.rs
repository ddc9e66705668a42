//! all-MiniLM-L6-v2 on candle against sentence-transformers' vectors. Needs the model: set
//! `AURORA_MODEL_DIR` to a folder with config.json, tokenizer.json and model.safetensors
//! (CI does); without it the tests print a note and pass.

use std::path::PathBuf;
use std::sync::OnceLock;

use aurora_core::knowledge::Embedder;
use aurora_knowledge::embed::{MINILM_DIMENSION, MINILM_MODEL, MiniLm};
use serde::Deserialize;

fn model() -> Option<MiniLm> {
    static MODEL: OnceLock<Option<MiniLm>> = OnceLock::new();
    MODEL
        .get_or_init(|| match std::env::var_os("AURORA_MODEL_DIR") {
            Some(dir) => Some(MiniLm::load(&PathBuf::from(dir)).expect("loading the model")),
            None => {
                eprintln!("AURORA_MODEL_DIR is not set: skipping the embedding model tests");
                None
            }
        })
        .clone()
}

#[derive(Deserialize)]
struct Reference {
    vectors: Vec<ReferenceVector>,
}

#[derive(Deserialize)]
struct ReferenceVector {
    text: String,
    embedding: Vec<f32>,
}

fn reference() -> Reference {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/reference_vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

#[test]
fn matches_the_published_example() {
    let Some(model) = model() else { return };
    let v = model.embed_batch(&["This is an example sentence"]).unwrap();
    assert_eq!(v.len(), 1);
    let v = &v[0];
    assert_eq!(v.len(), 384);
    // From the model card / sentence-transformers.
    let expected = [0.0677, 0.0635, 0.0487, 0.0793, 0.0374];
    for (got, want) in v.iter().zip(expected) {
        assert!((got - want).abs() < 1e-4, "{:?}", &v[..5]);
    }
    assert!((norm(v) - 1.0).abs() < 1e-5);
}

#[test]
fn matches_sentence_transformers_reference_vectors() {
    let Some(model) = model() else { return };
    let reference = reference();
    assert!(reference.vectors.len() >= 5);
    let texts: Vec<&str> = reference.vectors.iter().map(|r| r.text.as_str()).collect();
    let got = model.embed_batch(&texts).unwrap();
    for (r, v) in reference.vectors.iter().zip(&got) {
        let d = max_diff(v, &r.embedding);
        assert!(d < 1e-4, "{:?}: max difference {d}", r.text);
        assert!((norm(v) - 1.0).abs() < 1e-5);
    }
}

#[test]
fn batching_matches_one_by_one() {
    let Some(model) = model() else { return };
    let reference = reference();
    let mut texts: Vec<String> = reference.vectors.iter().map(|r| r.text.clone()).collect();
    // More than one internal batch, of mixed lengths.
    for i in 0..40 {
        texts.push(format!(
            "Alert {i}: {} on host web-{i}",
            "error rate above threshold ".repeat(i % 7 + 1)
        ));
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let batched = model.embed_batch(&refs).unwrap();
    assert_eq!(batched.len(), texts.len());
    for (text, b) in refs.iter().zip(&batched) {
        let single = model.embed_batch(&[text]).unwrap();
        let d = max_diff(&single[0], b);
        assert!(d < 1e-5, "{text:?}: batched differs by {d}");
    }
}

#[test]
fn long_input_is_truncated_and_empty_input_works() {
    let Some(model) = model() else { return };
    let long = "the quick brown fox jumps over the lazy dog ".repeat(500);
    let tokens = model.tokenizer().encode(long.as_str(), true).unwrap().len();
    assert!(
        tokens > 2000,
        "the chunker's tokenizer must not truncate: {tokens}"
    );
    let v = model.embed_batch(&[&long, "", "   "]).unwrap();
    assert_eq!(v.len(), 3);
    for v in &v {
        assert_eq!(v.len(), MINILM_DIMENSION);
        assert!(v.iter().all(|x| x.is_finite()));
        assert!((norm(v) - 1.0).abs() < 1e-5);
    }
    // Truncation keeps the first 256 tokens: appending text changes nothing.
    let longer = format!("{long} and something else entirely at the end");
    let w = model.embed_batch(&[&longer]).unwrap();
    assert!(max_diff(&v[0], &w[0]) < 1e-6);
    assert!(model.embed_batch(&[]).unwrap().is_empty());
}

#[tokio::test]
async fn embedder_port() {
    let Some(model) = model() else { return };
    let embedder: &dyn Embedder = &model;
    assert_eq!(embedder.model(), MINILM_MODEL);
    assert_eq!(embedder.dimension(), 384);
    assert_eq!(embedder.max_tokens(), 256);
    let texts = vec!["This is an example sentence".to_string(), "другой".into()];
    let v = embedder.embed(&texts).await.unwrap();
    let direct = model
        .embed_batch(&["This is an example sentence", "другой"])
        .unwrap();
    assert_eq!(v.len(), 2);
    assert!(max_diff(&v[0], &direct[0]) < 1e-6);
    assert!(max_diff(&v[1], &direct[1]) < 1e-6);
}

#[test]
fn missing_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = MiniLm::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("config.json"), "{err}");
    assert!(err.contains("aurora models install"), "{err}");
}
