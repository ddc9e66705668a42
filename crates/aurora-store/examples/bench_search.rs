//! Knowledge-base search benchmark: indexes synthetic documents (100,000 chunks by default,
//! each with ops-like text and a 384-dimension unit vector) into a fresh store, then measures
//! the latency of the vector ranking, the keyword ranking and the full hybrid search, and the
//! recall@10 of the vector ranking against exact (brute-force) cosine search.
//!
//! ```text
//! cargo run --release -p aurora-store --example bench_search -- \
//!     [--chunks 100000] [--chunks-per-document 100] [--queries 200] [--database-url URL] \
//!     [--sqlite-path FILE] [--seed N]
//! ```
//!
//! SQLite in a temporary file by default; PostgreSQL (with pgvector) when `--database-url` or
//! `AURORA_BENCH_DATABASE_URL` names a server: a fresh database is created on it and dropped
//! afterwards. The query embedding is precomputed, so hybrid latency is both rankings and the
//! fusion; the embedding model's own time is what `aurora-knowledge`'s `bench_embed` measures.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aurora_core::ids::DocumentId;
use aurora_core::knowledge::{
    DocumentIndex, DocumentKind, EmbedError, Embedder, KeywordQuery, KnowledgeStore, NewChunk,
    NewDocument, SearchFilter, SearchRequest, VectorQuery, blob_key, hybrid_search,
};
use aurora_core::ports::AccountStore;
use aurora_store::{DatabaseConfig, SqlStore};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const DIMENSION: usize = 384;
const MODEL: &str = "bench-model";
/// Topic centres the vectors gather around.
const CLUSTERS: usize = 200;
/// Distinct words of the generated text.
const VOCABULARY: usize = 4_000;
const WORDS_PER_CHUNK: usize = 180;
/// Topic words per cluster, mixed into its chunks' text.
const TOPIC_WORDS: usize = 40;
const WARM_UP: usize = 20;

struct Options {
    chunks: usize,
    per_document: usize,
    queries: usize,
    database_url: Option<String>,
    /// Keep the SQLite database here instead of in a temporary folder.
    sqlite_path: Option<String>,
    seed: u64,
}

fn parse_options() -> Result<Options> {
    let mut options = Options {
        chunks: 100_000,
        per_document: 100,
        queries: 200,
        database_url: std::env::var("AURORA_BENCH_DATABASE_URL").ok(),
        sqlite_path: None,
        seed: 42,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--chunks" => options.chunks = value()?.parse()?,
            "--chunks-per-document" => options.per_document = value()?.parse()?,
            "--queries" => options.queries = value()?.parse()?,
            "--database-url" => options.database_url = Some(value()?),
            "--sqlite-path" => options.sqlite_path = Some(value()?),
            "--seed" => options.seed = value()?.parse()?,
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: bench_search [--chunks N] \
                     [--chunks-per-document N] [--queries N] [--database-url URL] \
                     [--sqlite-path FILE] [--seed N]"
                )
                .into());
            }
        }
    }
    if options.chunks == 0 || options.per_document == 0 || options.queries == 0 {
        return Err("--chunks, --chunks-per-document and --queries must be positive".into());
    }
    Ok(options)
}

/// A standard normal sample (Box–Muller).
fn gaussian(rng: &mut StdRng) -> f32 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.r#gen();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// `base` plus Gaussian noise of `sigma` per dimension, normalised.
fn near(rng: &mut StdRng, base: &[f32], sigma: f32) -> Vec<f32> {
    let mut v: Vec<f32> = base.iter().map(|x| x + sigma * gaussian(rng)).collect();
    normalise(&mut v);
    v
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Real operations words for the most frequent ranks, then pronounceable made-up words.
const COMMON: &[&str] = &[
    "the",
    "to",
    "and",
    "of",
    "a",
    "in",
    "is",
    "for",
    "on",
    "service",
    "when",
    "with",
    "check",
    "error",
    "request",
    "database",
    "latency",
    "restart",
    "deploy",
    "cluster",
    "node",
    "pod",
    "queue",
    "timeout",
    "connection",
    "replica",
    "primary",
    "failover",
    "alert",
    "incident",
    "traffic",
    "load",
    "balancer",
    "memory",
    "disk",
    "cpu",
    "network",
    "dns",
    "certificate",
    "rollback",
    "release",
    "config",
    "metrics",
    "logs",
    "trace",
    "gateway",
    "cache",
    "redis",
    "postgres",
    "kafka",
    "consumer",
    "producer",
    "partition",
    "lag",
    "throughput",
    "retry",
    "backoff",
    "circuit",
    "breaker",
    "upstream",
    "downstream",
    "payments",
    "checkout",
    "auth",
    "token",
    "session",
    "region",
    "zone",
    "availability",
    "outage",
    "degraded",
    "recovery",
    "runbook",
    "escalate",
    "oncall",
    "page",
    "dashboard",
    "threshold",
    "saturation",
    "quota",
    "limit",
    "throttle",
    "scale",
    "autoscaler",
    "deployment",
    "canary",
    "health",
    "probe",
    "readiness",
    "liveness",
    "container",
    "image",
    "registry",
    "volume",
    "snapshot",
    "backup",
    "restore",
    "migration",
    "schema",
    "index",
    "query",
    "slow",
    "lock",
    "deadlock",
    "vacuum",
    "replication",
    "storage",
    "bucket",
    "object",
    "ingress",
    "egress",
    "firewall",
    "vpn",
    "kernel",
    "oom",
    "killed",
    "evicted",
    "crashloop",
    "heap",
    "garbage",
    "collector",
    "thread",
    "pool",
    "socket",
    "tls",
    "handshake",
    "expired",
    "rotation",
    "secret",
    "vault",
    "webhook",
    "api",
    "endpoint",
    "status",
    "code",
    "spike",
    "drop",
    "mitigation",
    "root",
    "cause",
];

fn vocabulary(rng: &mut StdRng) -> Vec<String> {
    const ONSETS: &[&str] = &[
        "b", "c", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "cr",
        "dr", "gr", "pl", "st", "tr", "sh", "ch",
    ];
    const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ai", "ou", "ea"];
    const CODAS: &[&str] = &["", "n", "r", "l", "s", "t", "x", "nd", "rk", "st"];
    let mut words: Vec<String> = COMMON.iter().map(|w| (*w).to_owned()).collect();
    let mut seen: std::collections::HashSet<String> = words.iter().cloned().collect();
    while words.len() < VOCABULARY {
        let syllables = rng.gen_range(2..=3);
        let mut word = String::new();
        for _ in 0..syllables {
            word.push_str(ONSETS[rng.gen_range(0..ONSETS.len())]);
            word.push_str(VOWELS[rng.gen_range(0..VOWELS.len())]);
        }
        word.push_str(CODAS[rng.gen_range(0..CODAS.len())]);
        if seen.insert(word.clone()) {
            words.push(word);
        }
    }
    words
}

/// Samples ranks with probability proportional to 1 / (rank + 1).
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize) -> Self {
        let mut total = 0.0;
        let cumulative = (0..n)
            .map(|r| {
                total += 1.0 / (r as f64 + 1.0);
                total
            })
            .collect();
        Self { cumulative }
    }

    fn sample(&self, rng: &mut StdRng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let x = rng.gen_range(0.0..total);
        self.cumulative
            .partition_point(|c| *c <= x)
            .min(self.cumulative.len() - 1)
    }
}

struct Corpus {
    words: Vec<String>,
    zipf: Zipf,
    /// Per cluster, the vocabulary ranks its text favours.
    topics: Vec<Vec<usize>>,
    centres: Vec<Vec<f32>>,
}

impl Corpus {
    fn new(rng: &mut StdRng) -> Self {
        let words = vocabulary(rng);
        let zipf = Zipf::new(words.len());
        let topics = (0..CLUSTERS)
            .map(|_| {
                (0..TOPIC_WORDS)
                    .map(|_| rng.gen_range(COMMON.len()..words.len()))
                    .collect()
            })
            .collect();
        let centres = (0..CLUSTERS)
            .map(|_| {
                let mut v: Vec<f32> = (0..DIMENSION).map(|_| gaussian(rng)).collect();
                normalise(&mut v);
                v
            })
            .collect();
        Self {
            words,
            zipf,
            topics,
            centres,
        }
    }

    /// About three quarters of the words from the whole vocabulary (Zipf), the rest from the
    /// cluster's topic, in sentences.
    fn text(&self, rng: &mut StdRng, cluster: usize) -> String {
        let mut text = String::with_capacity(WORDS_PER_CHUNK * 8);
        let mut sentence = 0;
        for i in 0..WORDS_PER_CHUNK {
            let rank = if rng.gen_bool(0.25) {
                let topic = &self.topics[cluster];
                topic[rng.gen_range(0..topic.len())]
            } else {
                self.zipf.sample(rng)
            };
            let word = &self.words[rank];
            if sentence == 0 {
                let mut chars = word.chars();
                if let Some(first) = chars.next() {
                    text.extend(first.to_uppercase());
                    text.push_str(chars.as_str());
                }
            } else {
                text.push_str(word);
            }
            sentence += 1;
            if sentence >= 8 && rng.gen_bool(0.15) || i + 1 == WORDS_PER_CHUNK {
                text.push_str(". ");
                sentence = 0;
            } else {
                text.push(' ');
            }
        }
        text.truncate(text.trim_end().len());
        text
    }
}

/// Returns the query's precomputed vector, so hybrid search costs the two rankings and fusion.
struct FixedEmbedder {
    vector: Vec<f32>,
}

#[async_trait]
impl Embedder for FixedEmbedder {
    fn model(&self) -> &str {
        MODEL
    }

    fn dimension(&self) -> usize {
        DIMENSION
    }

    fn max_tokens(&self) -> usize {
        256
    }

    async fn embed(&self, texts: &[String]) -> std::result::Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts.iter().map(|_| self.vector.clone()).collect())
    }
}

struct Query {
    vector: Vec<f32>,
    terms: Vec<String>,
    /// Indices of the exact 10 nearest chunks.
    exact: Vec<usize>,
}

fn exact_top(vectors: &[Vec<f32>], query: &[f32], k: usize) -> Vec<usize> {
    let mut scored: Vec<(f32, usize)> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| (dot(v, query), i))
        .collect();
    let k = k.min(scored.len());
    if k == 0 {
        return Vec::new();
    }
    scored.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
    scored.truncate(k);
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().map(|(_, i)| i).collect()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

fn report(name: &str, mut latencies: Vec<Duration>, extra: &str) {
    latencies.sort();
    let mean = latencies.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0
        / latencies.len().max(1) as f64;
    println!(
        "{name:<24} p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms  mean {:>7.2} ms{extra}",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.95),
        percentile(&latencies, 0.99),
        mean,
    );
}

/// Creates a database named after the process and time on the server of `admin_url`.
async fn fresh_postgres_database(admin_url: &str) -> Result<(String, String)> {
    use sqlx::Connection;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    let name = format!("aurora_bench_search_{}_{stamp}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::Executor::execute(
        &mut conn,
        sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")),
    )
    .await?;
    conn.close().await?;
    let (base, _) = admin_url
        .rsplit_once('/')
        .ok_or("the database URL has no database path")?;
    Ok((format!("{base}/{name}"), name))
}

async fn drop_postgres_database(admin_url: &str, name: &str) -> Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::Executor::execute(
        &mut conn,
        sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")),
    )
    .await?;
    conn.close().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let options = parse_options()?;
    let temp = tempfile::tempdir()?;
    let (url, created) = match &options.database_url {
        Some(admin) => {
            let (url, name) = fresh_postgres_database(admin).await?;
            (url, Some((admin.clone(), name)))
        }
        None => {
            let path = match &options.sqlite_path {
                Some(path) => std::path::PathBuf::from(path),
                None => temp.path().join("bench.db"),
            };
            (format!("sqlite://{}", path.display()), None)
        }
    };
    let store = SqlStore::connect(&url, &DatabaseConfig::default()).await?;
    store.migrate().await?;
    let outcome = run(&store, &options).await;
    store.close().await;
    if let Some((admin, name)) = created
        && let Err(err) = drop_postgres_database(&admin, &name).await
    {
        eprintln!("could not drop the benchmark database {name}: {err}");
    }
    outcome
}

async fn run(store: &SqlStore, options: &Options) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(options.seed);
    let corpus = Corpus::new(&mut rng);
    let org = store.create_org("bench").await?.id;
    let documents = options.chunks.div_ceil(options.per_document);
    println!(
        "backend                  {}\nchunks                   {} in {documents} documents, {DIMENSION} dimensions, {CLUSTERS} clusters, {VOCABULARY} words",
        store.kind().name(),
        options.chunks
    );

    // Index, keeping every vector for exact search.
    let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(options.chunks);
    let mut texts: Vec<String> = Vec::with_capacity(options.chunks);
    let mut position: HashMap<(DocumentId, u32), usize> = HashMap::with_capacity(options.chunks);
    let mut indexing = Duration::ZERO;
    let mut text_bytes = 0usize;
    let began = Instant::now();
    for d in 0..documents {
        let cluster = rng.gen_range(0..CLUSTERS);
        // Documents sit near a topic centre; their chunks near the document.
        let document_vector = near(&mut rng, &corpus.centres[cluster], 0.04);
        let count = options
            .per_document
            .min(options.chunks - d * options.per_document);
        let mut chunks = Vec::with_capacity(count);
        for ordinal in 0..count {
            let text = corpus.text(&mut rng, cluster);
            let embedding = near(&mut rng, &document_vector, 0.035);
            text_bytes += text.len();
            chunks.push(NewChunk {
                ordinal: ordinal as u32,
                context: format!("Document {d} › Section {}", ordinal / 10),
                text,
                embedding: Some(embedding),
            });
        }
        let sha = format!("{:064x}", d);
        let doc = store
            .create_document(
                org,
                &NewDocument {
                    title: format!("Runbook {d}"),
                    kind: DocumentKind::Runbook,
                    filename: Some(format!("runbook-{d}.md")),
                    size_bytes: 0,
                    sha256: sha.clone(),
                    blob_key: blob_key(org, &sha),
                    tags: Vec::new(),
                    incident_id: None,
                    investigation_id: None,
                },
            )
            .await?;
        let index = DocumentIndex {
            format: "markdown".into(),
            title: None,
            embedding_model: Some(MODEL.into()),
            chunks,
        };
        let start = Instant::now();
        store.index_document(org, doc.id, &index).await?;
        indexing += start.elapsed();
        for chunk in index.chunks {
            position.insert((doc.id, chunk.ordinal), vectors.len());
            if let Some(embedding) = chunk.embedding {
                vectors.push(embedding);
            }
            texts.push(chunk.text);
        }
        if (d + 1) % 100 == 0 {
            eprintln!(
                "  indexed {} chunks, {:.0} chunks/s",
                vectors.len(),
                vectors.len() as f64 / indexing.as_secs_f64()
            );
        }
    }
    println!(
        "indexing                 {:.1} s in index_document ({:.1} s in all), {:.0} chunks/s, {:.1} MiB of text",
        indexing.as_secs_f64(),
        began.elapsed().as_secs_f64(),
        vectors.len() as f64 / indexing.as_secs_f64(),
        text_bytes as f64 / (1024.0 * 1024.0)
    );

    // Queries: near a random chunk; keywords drawn from that chunk's less common words.
    let exact_began = Instant::now();
    let queries: Vec<Query> = (0..options.queries + WARM_UP)
        .map(|_| {
            let target = rng.gen_range(0..vectors.len());
            let vector = near(&mut rng, &vectors[target], 0.03);
            let candidates: Vec<&str> = texts[target]
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| w.len() > 3 && !COMMON[..20].contains(&w.to_lowercase().as_str()))
                .collect();
            let count = rng.gen_range(2..=4);
            let mut terms: Vec<String> = Vec::new();
            while terms.len() < count && !candidates.is_empty() {
                let word = candidates[rng.gen_range(0..candidates.len())].to_lowercase();
                if !terms.contains(&word) {
                    terms.push(word);
                }
                if terms.len() >= candidates.len() {
                    break;
                }
            }
            let exact = exact_top(&vectors, &vector, 10);
            Query {
                vector,
                terms,
                exact,
            }
        })
        .collect();
    println!(
        "exact search             {:.2} ms per query (brute force in Rust, one thread)",
        exact_began.elapsed().as_secs_f64() * 1000.0 / queries.len() as f64
    );

    let filter = SearchFilter::default();
    let (warm, measured) = queries.split_at(WARM_UP);

    // Vector ranking, k = 10, with recall against exact search.
    let mut latencies = Vec::with_capacity(measured.len());
    let mut found = 0usize;
    let mut expected = 0usize;
    for (i, query) in warm.iter().chain(measured).enumerate() {
        let start = Instant::now();
        let hits = store
            .vector_search(
                org,
                &VectorQuery {
                    embedding: &query.vector,
                    model: MODEL,
                    k: 10,
                    filter: &filter,
                },
            )
            .await?;
        let took = start.elapsed();
        if i < WARM_UP {
            continue;
        }
        latencies.push(took);
        let got: Vec<usize> = hits
            .iter()
            .filter_map(|h| position.get(&(h.document_id, h.ordinal)).copied())
            .collect();
        expected += query.exact.len();
        found += query.exact.iter().filter(|i| got.contains(i)).count();
    }
    let recall = found as f64 / expected.max(1) as f64;
    report(
        "vector_search k=10",
        latencies,
        &format!("  recall@10 {recall:.4}"),
    );

    // Keyword ranking, k = 40 (the depth hybrid search asks each ranking for).
    let mut latencies = Vec::with_capacity(measured.len());
    let mut hits_total = 0usize;
    for (i, query) in warm.iter().chain(measured).enumerate() {
        let start = Instant::now();
        let hits = store
            .keyword_search(
                org,
                &KeywordQuery {
                    terms: &query.terms,
                    k: 40,
                    filter: &filter,
                },
            )
            .await?;
        let took = start.elapsed();
        if i >= WARM_UP {
            latencies.push(took);
            hits_total += hits.len();
        }
    }
    report(
        "keyword_search k=40",
        latencies,
        &format!(
            "  {:.1} hits per query",
            hits_total as f64 / measured.len() as f64
        ),
    );

    // Hybrid: both rankings at depth 40 and fusion, k = 10.
    let mut latencies = Vec::with_capacity(measured.len());
    let mut both = 0usize;
    for (i, query) in warm.iter().chain(measured).enumerate() {
        let embedder = FixedEmbedder {
            vector: query.vector.clone(),
        };
        let request = SearchRequest {
            query: query.terms.join(" "),
            filter: SearchFilter::default(),
            k: Some(10),
        };
        let start = Instant::now();
        let results = hybrid_search(store, Some(&embedder as &dyn Embedder), org, &request).await?;
        let took = start.elapsed();
        if i >= WARM_UP {
            latencies.push(took);
            both += results
                .hits
                .iter()
                .filter(|h| h.vector_rank.is_some() && h.keyword_rank.is_some())
                .count();
        }
    }
    report(
        "hybrid_search k=10",
        latencies,
        &format!(
            "  {:.1} of 10 hits in both rankings",
            both as f64 / measured.len() as f64
        ),
    );
    println!(
        "queries                  {} measured after {WARM_UP} warm-up, {} ms target p50 for vector search",
        measured.len(),
        15
    );
    Ok(())
}
