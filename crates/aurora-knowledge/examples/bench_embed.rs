//! Embedding throughput of [`MiniLm`]: `bench_embed <model_dir> <texts.jsonl> [vectors.json]`.
//!
//! Reads one JSON string per line, embeds them all with `embed_batch` after a warm-up batch,
//! and prints one JSON line with the figures; writes the vectors when a third path is given
//! (the bench script compares them with sentence-transformers').

use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use aurora_knowledge::embed::MiniLm;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model_dir, texts_path, rest @ ..] = args.as_slice() else {
        return Err("usage: bench_embed <model_dir> <texts.jsonl> [vectors.json]".into());
    };
    let texts: Vec<String> = std::fs::read_to_string(texts_path)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    let mut model = MiniLm::load(&PathBuf::from(model_dir))?;
    let batch = match std::env::var("BENCH_BATCH") {
        Ok(n) => n.parse()?,
        Err(_) => aurora_knowledge::embed::BATCH_SIZE,
    };
    model = model.with_batch_size(batch);
    let load_s = started.elapsed().as_secs_f64();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    // Warm-up: first-touch allocations and thread pools.
    model.embed_batch(&refs[..refs.len().min(32)])?;
    let started = Instant::now();
    let vectors = model.embed_batch(&refs)?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "impl": "aurora",
            "batch": batch,
            "chunks": texts.len(),
            "seconds": seconds,
            "chunks_per_s": texts.len() as f64 / seconds,
            "load_s": load_s,
        })
    );
    if let Some(out) = rest.first() {
        std::fs::write(out, serde_json::to_string(&vectors)?)?;
    }
    Ok(())
}
