//! Chunking: sizes within the model's budget, overlap, heading contexts, dense ordinals.
//!
//! The tokenizer tests need a real model tokenizer: set `AURORA_MODEL_DIR` to a folder holding
//! all-MiniLM-L6-v2's `tokenizer.json`; without it they print a note and pass.

use std::path::PathBuf;
use std::sync::Arc;

use aurora_knowledge::chunk::{Chunk, ChunkConfig, Chunker, Sizer};
use aurora_knowledge::extract::{Extracted, Format, Section};
use tokenizers::Tokenizer;

/// A few thousand words of varied sentences and paragraphs.
fn long_text(paragraphs: usize) -> String {
    let words = [
        "replica",
        "ledger",
        "failover",
        "promote",
        "latency",
        "queue",
        "consumer",
        "partition",
        "kubernetes",
        "deployment",
        "rollback",
        "postgres",
        "connection",
        "timeout",
        "alert",
    ];
    let mut out = String::new();
    let mut x: u32 = 1;
    for p in 0..paragraphs {
        for s in 0..6 {
            let mut sentence = Vec::new();
            for _ in 0..(8 + (s * 3) % 11) {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                sentence.push(words[(x >> 16) as usize % words.len()]);
            }
            out.push_str(&format!("Step {p}.{s}: {}. ", sentence.join(" ")));
        }
        out.push_str("\n\n");
    }
    out
}

/// Many short sentences, each well within an overlap.
fn short_sentences(n: usize) -> String {
    let verbs = ["check", "promote", "drain", "restart", "page"];
    (0..n)
        .map(|i| format!("Step {i}: {} the replica.", verbs[i % verbs.len()]))
        .collect::<Vec<_>>()
        .join(" ")
}

fn doc(sections: Vec<(Vec<&str>, String)>) -> Extracted {
    Extracted {
        format: Format::Markdown,
        title: None,
        sections: sections
            .into_iter()
            .map(|(headings, text)| Section {
                headings: headings.into_iter().map(str::to_owned).collect(),
                text,
            })
            .collect(),
    }
}

fn assert_dense(chunks: &[Chunk]) {
    for (i, chunk) in chunks.iter().enumerate() {
        assert_eq!(chunk.ordinal as usize, i);
        assert!(!chunk.text.trim().is_empty());
    }
}

/// Whether some chunk starts with words the chunk before it ends with.
fn has_overlap(chunks: &[Chunk]) -> bool {
    chunks.windows(2).any(|pair| {
        let start: Vec<&str> = pair[1].text.split_whitespace().take(3).collect();
        start.len() == 3 && pair[0].text.contains(&start.join(" "))
    })
}

#[test]
fn config_defaults() {
    assert_eq!(
        ChunkConfig::default(),
        ChunkConfig {
            max_tokens: 256,
            overlap_tokens: 25
        }
    );
    assert_eq!(ChunkConfig::for_model(500).overlap_tokens, 50);
}

#[test]
fn chars_sizer_chunks_fit_with_overlap_and_context() {
    // Overlap is made of whole sentences (or smaller units) that fit in it.
    let config = ChunkConfig {
        max_tokens: 100,
        overlap_tokens: 30,
    };
    let chunker = Chunker::new(Sizer::Chars, config);
    let extracted = doc(vec![
        (vec!["Payments"], "Short intro.".to_owned()),
        (vec!["Payments", "Failover"], short_sentences(300)),
        (vec!["Empty"], "   \n\n ".to_owned()),
        (vec![], long_text(3)),
    ]);
    let chunks = chunker.chunk(&extracted);
    assert!(chunks.len() > 10, "{}", chunks.len());
    assert_dense(&chunks);
    for chunk in &chunks {
        // Four characters a token.
        let chars = chunk.embedding_input().chars().count();
        assert!(chars.div_ceil(4) <= 100, "{chars} chars: {chunk:?}");
        assert!(chunker.input_size(chunk) <= 100);
    }
    assert_eq!(chunks[0].context, "Payments");
    assert_eq!(chunks[0].text, "Short intro.");
    assert_eq!(chunks[1].context, "Payments › Failover");
    assert!(
        chunks[1]
            .embedding_input()
            .starts_with("Payments › Failover\n")
    );
    assert!(chunks.iter().all(|c| c.context != "Empty"));
    assert_eq!(chunks.last().map(|c| c.context.as_str()), Some(""));
    assert!(has_overlap(&chunks), "no overlap between chunks");

    // Every word of the section is in some chunk.
    let failover: String = chunks
        .iter()
        .filter(|c| c.context == "Payments › Failover")
        .map(|c| c.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(failover.contains("Step 299: page the replica."));
    assert!(failover.contains("Step 0: check the replica."));
}

#[test]
fn long_context_is_shortened_to_leave_room_for_text() {
    let chunker = Chunker::new(
        Sizer::Chars,
        ChunkConfig {
            max_tokens: 32,
            overlap_tokens: 3,
        },
    );
    let chunks = chunker.chunk_text(
        "A very long outer heading that goes on › Another long middle heading › Innermost",
        &long_text(2),
    );
    assert_dense(&chunks);
    for chunk in &chunks {
        assert!(chunker.input_size(chunk) <= 32, "{chunk:?}");
        assert!(chunk.context.ends_with("Innermost"), "{chunk:?}");
    }
}

fn model_tokenizer() -> Option<Tokenizer> {
    let Ok(dir) = std::env::var("AURORA_MODEL_DIR") else {
        eprintln!("AURORA_MODEL_DIR is not set: skipping the test with a model tokenizer");
        return None;
    };
    let path = PathBuf::from(dir).join("tokenizer.json");
    Some(Tokenizer::from_file(&path).expect("load tokenizer.json"))
}

#[test]
fn token_sizer_chunks_fit_the_model() {
    let Some(tokenizer) = model_tokenizer() else {
        return;
    };
    // Count as the model will, without the file's truncation (128) and padding.
    let mut counter = tokenizer.clone();
    counter.with_truncation(None).expect("no truncation");
    counter.with_padding(None);
    let chunker = Chunker::new(Sizer::Tokens(Arc::new(tokenizer)), ChunkConfig::default());
    let extracted = doc(vec![
        (vec!["Payments", "Failover"], short_sentences(400)),
        (vec!["Payments", "Checks"], long_text(20)),
        (vec!["Contacts"], "Page the on-call engineer.".to_owned()),
    ]);
    let chunks = chunker.chunk(&extracted);
    assert!(chunks.len() > 5, "{}", chunks.len());
    assert_dense(&chunks);
    let mut largest = 0;
    for chunk in &chunks {
        let tokens = counter
            .encode(chunk.embedding_input(), true)
            .expect("encode")
            .len();
        assert!(tokens <= 256, "{tokens} tokens: {chunk:?}");
        assert_eq!(tokens, chunker.input_size(chunk));
        largest = largest.max(tokens);
    }
    // Chunks are filled, not needlessly small.
    assert!(largest > 128, "largest chunk {largest} tokens");
    assert!(has_overlap(&chunks), "no overlap between chunks");
    assert_eq!(chunks[0].context, "Payments › Failover");
    assert_eq!(chunks.last().map(|c| c.context.as_str()), Some("Contacts"));
}
