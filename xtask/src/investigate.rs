//! `bench-investigate`: from an alert's arrival to its investigation's start, on embedded
//! defaults. Each delivery opens a new incident (its own service); the latency is the time
//! from just before the delivery is sent to the `started_at` the server records for the
//! incident's investigation (one machine, one clock).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::{DataDir, Result, admin_token, build_release, free_port, start, stop};
use crate::http::{Conn, json_str};
use crate::ingest::{Source, create_source};

const ALERTS: usize = 50;
const SPACING: Duration = Duration::from_millis(200);

pub fn run() -> Result<()> {
    let binary = build_release()?;
    let data = DataDir::new("bench-investigate");
    let token = admin_token(&binary, &data.0)?;
    let port = free_port()?;
    let (mut server, _) = start(&binary, &data.0, port)?;
    let outcome = measure(port, &token);
    stop(&mut server);
    outcome
}

fn measure(port: u16, token: &str) -> Result<()> {
    let source = create_source(port, token)?;
    let mut conn = Conn::open(port)?;
    let mut sent = Vec::with_capacity(ALERTS);
    for i in 0..ALERTS {
        let sent_at = unix_now();
        let incident = deliver(&mut conn, &source, i)?;
        sent.push((incident, sent_at));
        std::thread::sleep(SPACING);
    }
    let auth = format!("Bearer {token}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut latencies = Vec::with_capacity(ALERTS);
    for (incident, sent_at) in sent {
        let started = loop {
            let list = conn.send(
                "GET",
                &format!("/api/v1/incidents/{incident}/investigations"),
                &[("Authorization", &auth)],
                b"",
            )?;
            if let Some(at) = json_str(&list.body, "started_at").and_then(|t| parse_rfc3339(&t)) {
                break at;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "incident {incident} was not investigated within a minute"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        latencies.push((started - sent_at) * 1_000.0);
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "alert received -> investigation started  p50 {:.1} ms  p90 {:.1} ms  max {:.1} ms  ({} alerts, each a new incident, {} ms apart)",
        pct(0.5),
        pct(0.9),
        pct(1.0),
        latencies.len(),
        SPACING.as_millis()
    );
    Ok(())
}

/// Posts one alert of its own service; returns the incident it opened.
fn deliver(conn: &mut Conn, source: &Source, i: usize) -> Result<String> {
    let body = format!(
        r#"{{"version":"4","groupKey":"{{}}:{{alertname=\"Latency\"}}","truncatedAlerts":0,"status":"firing","receiver":"aurora","groupLabels":{{"alertname":"Latency"}},"commonLabels":{{}},"commonAnnotations":{{}},"externalURL":"http://alertmanager.example","alerts":[{{"status":"firing","labels":{{"alertname":"Latency","service":"svc-{i}","severity":"critical"}},"annotations":{{"summary":"p95 latency high on svc-{i}"}},"startsAt":"2026-11-22T00:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus.example/graph","fingerprint":"lat{i:016x}"}}]}}"#
    );
    let response = conn.send(
        "POST",
        &source.path,
        &[
            ("Authorization", &source.auth),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )?;
    if response.status != 200 {
        return Err(format!(
            "delivery {i}: {} {}",
            response.status, response.body
        ));
    }
    let list = response
        .body
        .split("\"new_incidents\":[\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or_else(|| format!("delivery {i} opened no incident: {}", response.body))?;
    Ok(list.to_owned())
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `2026-11-22T04:25:01.123456Z` (UTC, as the API writes times) to unix seconds.
fn parse_rfc3339(text: &str) -> Option<f64> {
    let text = text.strip_suffix('Z')?;
    let (date, clock) = text.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut c = clock.splitn(3, ':');
    let (h, min) = (
        c.next()?.parse::<i64>().ok()?,
        c.next()?.parse::<i64>().ok()?,
    );
    let sec: f64 = c.next()?.parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3_600 + min * 60) as f64 + sec)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_times_parse_to_unix_seconds() {
        assert_eq!(super::parse_rfc3339("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(
            super::parse_rfc3339("2026-11-22T04:25:01.5Z"),
            Some(1_795_321_501.5)
        );
    }
}
