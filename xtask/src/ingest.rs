//! `bench-ingest`: Alertmanager webhook deliveries into a running Aurora.
//!
//! 1. Sustained ingest: closed-loop senders post deliveries of 1 and of 50 alerts as fast as the
//!    server answers; alerts per second.
//! 2. Latency at 1,000 requests/s: open-loop senders post 1-alert deliveries on a fixed
//!    schedule; latency is measured from each request's scheduled time, so a slow answer also
//!    counts against the requests queued behind it.
//! 3. Memory at steady state, and a count check: every alert of a delivery answered with 2xx is
//!    stored, and the incidents are those the grouping rules should make.
//!
//! Phases 1 and 2 run [`ROUNDS`] times, the rounds going through every configuration in turn;
//! the median of the rounds is reported with each round's figure.
//!
//! Every alert has its own fingerprint; alerts name one of `SERVICES` services, so grouping by
//! service and environment should leave exactly that many open incidents.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::common::{DataDir, Result, admin_token, build_release, free_port, rss_mib, start, stop};
use crate::http::{Conn, json_str};

const SERVICES: u64 = 20;
/// Concurrent senders of the sustained runs: as many as the machine's cores several times over,
/// and as many as a busy Alertmanager cluster keeps in flight.
const SUSTAINED_SENDERS: [u64; 2] = [8, 64];
const SUSTAINED_FOR: Duration = Duration::from_secs(10);
const RATE: u64 = 1_000;
const RATE_SENDERS: u64 = 16;
const RATE_FOR: Duration = Duration::from_secs(10);
/// Each measurement is repeated and its median reported: on a machine of two cores, shared with
/// the senders, one run's figure moves by a fifth from one run to the next.
const ROUNDS: usize = 3;

pub fn run() -> Result<()> {
    let binary = build_release()?;
    let data = DataDir::new("bench-ingest");
    let backend = configure_database(&data)?;
    let token = admin_token(&binary, &data.0)?;
    let port = free_port()?;
    let (mut server, _) = start(&binary, &data.0, port)?;
    let outcome = measure(port, &token, server.id(), backend);
    stop(&mut server);
    outcome
}

/// SQLite in the data directory, or a fresh database on the PostgreSQL server named by
/// `AURORA_BENCH_DATABASE_URL`.
fn configure_database(data: &DataDir) -> Result<&'static str> {
    let Ok(admin_url) = std::env::var("AURORA_BENCH_DATABASE_URL") else {
        return Ok("sqlite");
    };
    let name = format!("aurora_bench_{}", std::process::id());
    let created = Command::new("psql")
        .args([
            admin_url.as_str(),
            "-qc",
            &format!("CREATE DATABASE {name}"),
        ])
        .status()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if !created.success() {
        return Err(format!("psql could not create database {name}"));
    }
    let (base, _) = admin_url
        .rsplit_once('/')
        .ok_or("AURORA_BENCH_DATABASE_URL has no database path")?;
    std::fs::create_dir_all(&data.0).map_err(|e| e.to_string())?;
    std::fs::write(
        data.0.join("aurora.toml"),
        format!("[database]\nurl = \"{base}/{name}\"\n"),
    )
    .map_err(|e| e.to_string())?;
    Ok("postgres")
}

pub struct Source {
    pub path: String,
    pub auth: String,
}

fn measure(port: u16, token: &str, pid: u32, backend: &str) -> Result<()> {
    let source = create_source(port, token)?;
    let next_alert = Arc::new(AtomicU64::new(0));
    println!("backend                   {backend}");

    // Alerts in deliveries answered with 2xx: these must all be stored.
    let mut acknowledged = 0;
    let configurations: Vec<(u64, u64)> = [1, 50]
        .into_iter()
        .flat_map(|per_delivery| SUSTAINED_SENDERS.map(|senders| (per_delivery, senders)))
        .collect();
    // Rounds go through every configuration in turn, so that each meets a database of every
    // size the run reaches.
    let mut rates = vec![Vec::new(); configurations.len()];
    for round in 1..=ROUNDS {
        for (i, &(per_delivery, senders)) in configurations.iter().enumerate() {
            let (deliveries, failures, took) =
                sustained(port, &source, &next_alert, per_delivery, senders)?;
            let alerts = deliveries * per_delivery;
            acknowledged += (deliveries - failures) * per_delivery;
            let rate = alerts as f64 / took.as_secs_f64();
            rates[i].push(rate);
            println!(
                "round {round}: sustained, {per_delivery:>2} alert(s)/delivery, {senders:>2} senders {rate:>9.0} alerts/s  ({deliveries} deliveries in {:.1} s, {failures} not 2xx)",
                took.as_secs_f64()
            );
        }
    }
    for ((per_delivery, senders), mut rates) in configurations.into_iter().zip(rates) {
        rates.sort_by(f64::total_cmp);
        println!(
            "sustained, {per_delivery:>2} alert(s)/delivery, {senders:>2} senders {:>9.0} alerts/s  (median of {ROUNDS} rounds; {})",
            median(&rates),
            rates
                .iter()
                .map(|r| format!("{r:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    let mut p99s = Vec::new();
    for round in 1..=ROUNDS {
        let (latencies, failures) = fixed_rate(port, &source, &next_alert)?;
        acknowledged += latencies.len() as u64 - failures;
        p99s.push(percentile(&latencies, 0.99));
        println!(
            "round {round}: at {RATE} req/s, 1 alert     p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  ({} requests, {failures} not 2xx)",
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.99),
            percentile(&latencies, 1.0),
            latencies.len()
        );
    }
    p99s.sort_by(f64::total_cmp);
    println!(
        "at {RATE} req/s, 1 alert     p99 {:.2} ms  (median of {ROUNDS} rounds; {})",
        median(&p99s),
        p99s.iter()
            .map(|p| format!("{p:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("RSS at steady state       {:>9.1} MiB", rss_mib(pid)?);

    let (stored, incidents) = count_stored(port, token)?;
    let verdict = if stored == acknowledged && incidents == SERVICES {
        "ok"
    } else {
        "MISMATCH"
    };
    println!(
        "count check               {verdict}: {acknowledged} alerts answered with 2xx, {stored} stored, {incidents} open incidents (expected {SERVICES})"
    );
    if verdict == "ok" {
        Ok(())
    } else {
        Err("alerts were lost or incidents are wrong".into())
    }
}

pub fn create_source(port: u16, token: &str) -> Result<Source> {
    let auth = format!("Bearer {token}");
    let body = br#"{"kind": "alertmanager", "name": "bench"}"#;
    let response = Conn::open(port)?.send(
        "POST",
        "/api/v1/sources",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body,
    )?;
    if response.status != 201 {
        return Err(format!(
            "creating the source: {} {}",
            response.status, response.body
        ));
    }
    let path = json_str(&response.body, "webhook_path").ok_or("no webhook_path in the answer")?;
    let secret = json_str(&response.body, "secret").ok_or("no secret in the answer")?;
    Ok(Source {
        path,
        auth: format!("Bearer {secret}"),
    })
}

/// An Alertmanager webhook v4 delivery of `count` firing alerts, each with its own fingerprint.
fn delivery(next_alert: &AtomicU64, count: u64) -> Vec<u8> {
    let first = next_alert.fetch_add(count, Ordering::Relaxed);
    let alerts: Vec<String> = (first..first + count)
        .map(|n| {
            format!(
                r#"{{"status":"firing","labels":{{"alertname":"BenchAlert","service":"svc-{svc}","env":"bench","instance":"host-{n}"}},"annotations":{{"summary":"bench alert {n}"}},"startsAt":"2026-11-22T00:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus.example/graph","fingerprint":"bench{n:016x}"}}"#,
                svc = n % SERVICES
            )
        })
        .collect();
    format!(
        r#"{{"version":"4","groupKey":"{{}}:{{alertname=\"BenchAlert\"}}","truncatedAlerts":0,"status":"firing","receiver":"aurora","groupLabels":{{"alertname":"BenchAlert"}},"commonLabels":{{"alertname":"BenchAlert"}},"commonAnnotations":{{}},"externalURL":"http://alertmanager.example","alerts":[{}]}}"#,
        alerts.join(",")
    )
    .into_bytes()
}

/// Posts one delivery; each kind of refusal is reported once, so its cause is visible.
fn post(conn: &mut Conn, source: &Source, body: &[u8]) -> Result<bool> {
    static REPORTED: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let response = conn.send(
        "POST",
        &source.path,
        &[
            ("Authorization", &source.auth),
            ("Content-Type", "application/json"),
        ],
        body,
    )?;
    let ok = (200..300).contains(&response.status);
    if !ok
        && let Ok(mut seen) = REPORTED.lock()
        && !seen.contains(&response.status)
    {
        seen.push(response.status);
        eprintln!("a delivery got {}: {}", response.status, response.body);
    }
    Ok(ok)
}

/// Closed loop: each sender posts its next delivery as soon as the previous one is answered.
fn sustained(
    port: u16,
    source: &Source,
    next_alert: &Arc<AtomicU64>,
    per_delivery: u64,
    senders: u64,
) -> Result<(u64, u64, Duration)> {
    let stop = Arc::new(AtomicBool::new(false));
    let began = Instant::now();
    let results: Vec<Result<(u64, u64)>> = std::thread::scope(|scope| {
        let senders: Vec<_> = (0..senders)
            .map(|_| {
                let stop = stop.clone();
                let next_alert = next_alert.clone();
                scope.spawn(move || -> Result<(u64, u64)> {
                    let mut conn = Conn::open(port)?;
                    let (mut done, mut failed) = (0, 0);
                    while !stop.load(Ordering::Relaxed) {
                        if post(&mut conn, source, &delivery(&next_alert, per_delivery))? {
                            done += 1;
                        } else {
                            failed += 1;
                        }
                    }
                    Ok((done, failed))
                })
            })
            .collect();
        std::thread::sleep(SUSTAINED_FOR);
        stop.store(true, Ordering::Relaxed);
        senders
            .into_iter()
            .map(|s| s.join().unwrap_or_else(|_| Err("a sender panicked".into())))
            .collect()
    });
    let took = began.elapsed();
    let (mut done, mut failed) = (0, 0);
    for result in results {
        let (d, f) = result?;
        done += d + f;
        failed += f;
    }
    Ok((done, failed, took))
}

/// Open loop at `RATE` requests/s; returns each request's latency in ms from its scheduled time.
fn fixed_rate(port: u16, source: &Source, next_alert: &Arc<AtomicU64>) -> Result<(Vec<f64>, u64)> {
    let interval = Duration::from_secs_f64(RATE_SENDERS as f64 / RATE as f64);
    let per_sender = RATE_FOR.as_secs() * RATE / RATE_SENDERS;
    let began = Instant::now();
    let results: Vec<Result<(Vec<f64>, u64)>> = std::thread::scope(|scope| {
        let senders: Vec<_> = (0..RATE_SENDERS)
            .map(|i| {
                let next_alert = next_alert.clone();
                scope.spawn(move || -> Result<(Vec<f64>, u64)> {
                    let mut conn = Conn::open(port)?;
                    let offset = interval.mul_f64(i as f64 / RATE_SENDERS as f64);
                    let mut latencies = Vec::with_capacity(per_sender as usize);
                    let mut failed = 0;
                    for k in 0..per_sender {
                        let due = began + offset + interval * k as u32;
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        if !post(&mut conn, source, &delivery(&next_alert, 1))? {
                            failed += 1;
                        }
                        latencies.push(due.elapsed().as_secs_f64() * 1000.0);
                    }
                    Ok((latencies, failed))
                })
            })
            .collect();
        senders
            .into_iter()
            .map(|s| s.join().unwrap_or_else(|_| Err("a sender panicked".into())))
            .collect()
    });
    let mut all = Vec::new();
    let mut failed = 0;
    for result in results {
        let (latencies, f) = result?;
        all.extend(latencies);
        failed += f;
    }
    all.sort_by(f64::total_cmp);
    Ok((all, failed))
}

fn median(sorted: &[f64]) -> f64 {
    percentile(sorted, 0.5)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Alerts stored and incidents open, read back through the API.
fn count_stored(port: u16, token: &str) -> Result<(u64, u64)> {
    let auth = format!("Bearer {token}");
    let mut conn = Conn::open(port)?;
    let mut incidents = 0;
    let mut alerts = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/incidents?status=open&limit=100&cursor={c}"),
            None => "/api/v1/incidents?status=open&limit=100".to_owned(),
        };
        let page = conn.send("GET", &path, &[("Authorization", &auth)], b"")?;
        if page.status != 200 {
            return Err(format!("listing incidents: {} {}", page.status, page.body));
        }
        for id in ids(&page.body) {
            incidents += 1;
            let detail = conn.send(
                "GET",
                &format!("/api/v1/incidents/{id}"),
                &[("Authorization", &auth)],
                b"",
            )?;
            if detail.status != 200 {
                return Err(format!(
                    "reading incident {id}: {} {}",
                    detail.status, detail.body
                ));
            }
            // The detail carries the first alerts and the count of all the incident's alerts.
            let detail: serde_json::Value =
                serde_json::from_str(&detail.body).map_err(|e| format!("incident {id}: {e}"))?;
            alerts += detail["alerts_total"]
                .as_u64()
                .ok_or_else(|| format!("incident {id} has no alerts_total"))?;
        }
        cursor = json_str(&page.body, "next");
        if cursor.is_none() {
            return Ok((alerts, incidents));
        }
    }
}

/// The `"id"` of each incident in a listing page.
fn ids(page: &str) -> Vec<String> {
    page.split("{\"id\":\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next().map(str::to_owned))
        .collect()
}
