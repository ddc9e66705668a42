#!/usr/bin/env python3
"""Embedding throughput: Aurora's MiniLm against sentence-transformers, side by side.

Usage (from the workspace root, with sentence-transformers installed in the Python used):

    python3 crates/aurora-knowledge/bench/embed_bench.py [MODEL_DIR] [--texts N] [--batch 32]

Generates N chunk-like texts (100-256 tokens) deterministically from the workspace's own
Markdown files, runs
`cargo run --release -p aurora-knowledge --example bench_embed` and sentence-transformers on
the same texts with the same batch size and all cores, prints chunks/s for both, their ratio,
and the largest difference between the two implementations' vectors.
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
DEFAULT_MODEL = os.environ.get("AURORA_MODEL_DIR", "")


def corpus_words():
    files = sorted(glob.glob(os.path.join(ROOT, "**", "*.md"), recursive=True))
    words = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        text = re.sub(r"```.*?```", " ", text, flags=re.S)
        words.extend(text.split())
    if len(words) < 1000:
        sys.exit("not enough Markdown text to make benchmark inputs")
    return words


def make_texts(n):
    """n windows of 70-190 words (about 100-256 BERT tokens), deterministic."""
    words = corpus_words()
    texts, pos, seed = [], 0, 12345
    for _ in range(n):
        seed = (seed * 1103515245 + 12345) % (1 << 31)
        length = 70 + seed % 121
        if pos + length > len(words):
            pos = (pos + 7919) % max(1, len(words) - length)
        texts.append(" ".join(words[pos : pos + length]))
        pos += length
    return texts


def run_aurora(model_dir, texts_path, vectors_path, batch):
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", "/var/tmp/aurora-target")
    env["BENCH_BATCH"] = str(batch)
    cmd = [
        "cargo", "run", "--quiet", "--release", "-p", "aurora-knowledge",
        "--example", "bench_embed", "--", model_dir, texts_path, vectors_path,
    ]
    print("+", " ".join(cmd), file=sys.stderr)
    out = subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_sentence_transformers(model_dir, texts, batch):
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_dir, device="cpu")
    model.encode(texts[:batch], batch_size=batch, normalize_embeddings=True)  # warm-up
    started = time.perf_counter()
    vectors = model.encode(texts, batch_size=batch, normalize_embeddings=True)
    seconds = time.perf_counter() - started
    return {
        "impl": "sentence-transformers",
        "chunks": len(texts),
        "seconds": seconds,
        "chunks_per_s": len(texts) / seconds,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }, vectors


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir", nargs="?", default=DEFAULT_MODEL)
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=32, help="batch size for both")
    args = parser.parse_args()
    if not args.model_dir:
        parser.error("give the model folder, or set AURORA_MODEL_DIR")

    texts = make_texts(args.texts)
    with tempfile.TemporaryDirectory() as tmp:
        texts_path = os.path.join(tmp, "texts.jsonl")
        vectors_path = os.path.join(tmp, "vectors.json")
        with open(texts_path, "w", encoding="utf-8") as f:
            for t in texts:
                f.write(json.dumps(t) + "\n")
        aurora = run_aurora(args.model_dir, texts_path, vectors_path, args.batch)
        with open(vectors_path, encoding="utf-8") as f:
            aurora_vectors = json.load(f)
    st, st_vectors = run_sentence_transformers(args.model_dir, texts, args.batch)

    import numpy as np

    diff = float(np.max(np.abs(np.asarray(aurora_vectors, dtype=np.float32) - st_vectors)))
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.model_dir)
    lengths = [min(256, len(tok(t)["input_ids"])) for t in texts]
    print(json.dumps(aurora))
    print(json.dumps(st))
    print(
        f"texts: {len(texts)}, tokens per text: min {min(lengths)}, "
        f"mean {sum(lengths) / len(lengths):.0f}, max {max(lengths)}; batch {args.batch}; "
        f"cores: {os.cpu_count()}"
    )
    print(f"aurora:                 {aurora['chunks_per_s']:8.1f} chunks/s")
    print(f"sentence-transformers:  {st['chunks_per_s']:8.1f} chunks/s")
    print(f"ratio aurora / s-t:     {aurora['chunks_per_s'] / st['chunks_per_s']:8.2f}x")
    print(f"max |aurora - s-t|:     {diff:.2e}")


if __name__ == "__main__":
    main()
