//! PetShop layout: `metrics.csv` with three header rows (microservice / metric / statistic) and
//! a unix-timestamp index column, `target.json` (observed anomaly and true root cause), a
//! `graph.csv` adjacency matrix (row calls column) and an optional `noissue/metrics.csv` with a
//! long normal period, found in the case directory or up to two levels above it.

use std::path::{Path, PathBuf};

use super::csvutil::{num, read_table, read_table_with};
use super::{Case, CaseRef, read_to_string, to_unix_seconds};
use crate::error::AnalysisError;
use crate::frame::{MetricKind, MetricSeries, TelemetryFrame, TimeRange, Topology, Window};

/// How many directory levels above the case to look for `graph.csv` and `noissue/`. Default 2:
/// the layout puts them at `<scenario>/`, with cases at `<scenario>/<split>/<issue>/`.
pub const SEARCH_UP: usize = 2;

fn find_up(dir: &Path, rel: &str) -> Option<PathBuf> {
    let mut d = Some(dir);
    for _ in 0..=SEARCH_UP {
        let here = d?;
        let p = here.join(rel);
        if p.is_file() {
            return Some(p);
        }
        d = here.parent();
    }
    None
}

/// Reads a three-header-row metrics file into series named `node/metric/statistic`.
pub fn load_metrics(path: &Path) -> Result<Vec<MetricSeries>, AnalysisError> {
    let t = read_table_with(path, false)?;
    // Header rows are the leading rows whose first cell is not a number.
    let header_rows: Vec<&csv::StringRecord> = t
        .rows
        .iter()
        .take_while(|r| r.get(0).is_none_or(|c| c.trim().parse::<f64>().is_err()))
        .collect();
    let nh = header_rows.len();
    if nh == 0 {
        return Err(AnalysisError::bad(path, "no header rows"));
    }
    let ncols = header_rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let data = &t.rows[nh..];
    let times: Vec<f64> = data
        .iter()
        .map(|r| {
            let x = num(r.get(0));
            if x.is_finite() {
                to_unix_seconds(x)
            } else {
                f64::NAN
            }
        })
        .collect();
    let mut out = Vec::new();
    for c in 1..ncols {
        // Non-empty header cells of this column, top to bottom: node, metric, statistic.
        let parts: Vec<String> = header_rows
            .iter()
            .filter_map(|r| r.get(c))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let Some(node) = parts.first() else { continue };
        let metric = parts.get(1).cloned().unwrap_or_default();
        let name = parts.join("/");
        let values: Vec<f64> = data.iter().map(|r| num(r.get(c))).collect();
        out.push(MetricSeries {
            name,
            service: node.clone(),
            kind: MetricKind::infer(&metric),
            unit: String::new(),
            times: times.clone(),
            values,
        });
    }
    Ok(out)
}

/// Reads an adjacency matrix: header row of names, then one row per caller with its name first
/// and a non-zero cell for each callee.
pub fn load_graph(path: &Path) -> Result<Topology, AnalysisError> {
    let t = read_table(path)?;
    let mut topo = Topology::default();
    for r in &t.rows {
        let Some(caller) = r.get(0).map(str::trim) else {
            continue;
        };
        for (c, cell) in r.iter().enumerate().skip(1) {
            let v = num(Some(cell));
            if v.is_finite()
                && v != 0.0
                && let Some(callee) = t.headers.get(c)
            {
                topo.add(caller, callee.trim());
            }
        }
    }
    Ok(topo)
}

/// Loads one PetShop case.
pub fn load(r: &CaseRef) -> Result<Case, AnalysisError> {
    let dir = &r.dir;
    let target_path = dir.join("target.json");
    let target: serde_json::Value =
        serde_json::from_str(&read_to_string(&target_path)?).map_err(|source| {
            AnalysisError::Json {
                path: target_path.clone(),
                source,
            }
        })?;
    let onset = target
        .pointer("/target/timestamp")
        .and_then(|v| {
            v.as_f64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .map(to_unix_seconds)
        .ok_or_else(|| AnalysisError::bad(&target_path, "target.timestamp is missing"))?;
    let alert_service = target
        .pointer("/target/node")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let fault = target
        .pointer("/target/metric")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let alert_metric = match (
        target.pointer("/target/metric").and_then(|v| v.as_str()),
        target.pointer("/target/agg").and_then(|v| v.as_str()),
    ) {
        (Some(m), Some(a)) => Some(format!("{m}/{a}")),
        (Some(m), None) => Some(m.to_string()),
        _ => None,
    };
    let label = target
        .pointer("/root_cause/node")
        .and_then(|v| v.as_str())
        .map(str::to_string);

    let mut series = load_metrics(&dir.join("metrics.csv"))?;
    // Rows are labelled by the start of their bucket: the bucket holding the onset is incident.
    let row_times: Vec<f64> = series.first().map(|s| s.times.clone()).unwrap_or_default();
    let incident_start = row_times
        .iter()
        .copied()
        .filter(|t| *t <= onset)
        .fold(f64::NEG_INFINITY, f64::max);
    let incident_start = if incident_start.is_finite() {
        incident_start
    } else {
        onset
    };
    let first = row_times.iter().copied().fold(f64::INFINITY, f64::min);
    let last = row_times.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !last.is_finite() {
        return Err(AnalysisError::bad(dir.join("metrics.csv"), "no data rows"));
    }
    let mut normal = Vec::new();
    if first < incident_start {
        normal.push(TimeRange::new(first, incident_start));
    }
    if let Some(p) = find_up(dir, "noissue/metrics.csv") {
        let extra = load_metrics(&p)?;
        let lo = extra
            .iter()
            .filter_map(|s| s.times.first().copied())
            .fold(f64::INFINITY, f64::min);
        let hi = extra
            .iter()
            .filter_map(|s| s.times.last().copied())
            .fold(f64::NEG_INFINITY, f64::max);
        // Only a reference period that does not overlap the incident can be normal.
        if lo.is_finite() && hi.is_finite() && (hi < incident_start || lo > last) {
            normal.push(TimeRange::new(lo, hi + 1.0));
            for e in extra {
                if let Some(s) = series.iter_mut().find(|s| s.name == e.name) {
                    s.times.extend(e.times);
                    s.values.extend(e.values);
                } else {
                    series.push(e);
                }
            }
        }
    }
    let topology = match find_up(dir, "graph.csv") {
        Some(p) => load_graph(&p)?,
        None => Topology::default(),
    };
    Ok(Case {
        reference: r.clone(),
        frame: TelemetryFrame {
            series,
            ..TelemetryFrame::default()
        },
        window: Window {
            normal,
            incident: TimeRange::new(incident_start, last + 1.0),
            onset: Some(onset),
            alert_service,
            alert_metric,
        },
        topology,
        label,
        fault,
    })
}
