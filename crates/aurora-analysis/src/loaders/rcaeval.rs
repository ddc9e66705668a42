//! RCAEval layout: `data.csv` / `simple_metrics.csv` (column `time` then one column per
//! `<service>_<metric>`) or `metrics.json` (`{metric: [[ts, value], ...]}`), `inject_time.txt`,
//! optional `logs.csv` and `traces.csv`. The label is the directory name `<service>_<fault>`.

use std::collections::BTreeMap;
use std::path::Path;

use super::csvutil::{num, read_table};
use super::{Case, CaseRef, parse_time, read_to_string, to_unix_seconds};
use crate::error::AnalysisError;
use crate::frame::{
    LogLevel, LogRecord, MetricKind, MetricSeries, Span, TelemetryFrame, TimeRange, Topology,
    Window, service_of_pod, unit_from_name,
};

/// Service of a RCAEval metric column: the text before the first `_`, without a `-db` suffix
/// (a service's database is blamed on the service, as the dataset labels it).
pub fn service_of_column(col: &str) -> String {
    let head = col.split('_').next().unwrap_or(col);
    head.strip_suffix("-db").unwrap_or(head).to_string()
}

fn series(name: &str, times: Vec<f64>, values: Vec<f64>) -> MetricSeries {
    MetricSeries {
        name: name.to_string(),
        service: service_of_column(name),
        kind: MetricKind::infer(name),
        unit: unit_from_name(name),
        times,
        values,
    }
}

fn load_wide_csv(path: &Path) -> Result<Vec<MetricSeries>, AnalysisError> {
    let t = read_table(path)?;
    let tcol = t.col(&["time", "timestamp", "ts"]).unwrap_or(0);
    let times: Vec<f64> = t
        .rows
        .iter()
        .map(|r| r.get(tcol).and_then(parse_time).unwrap_or(f64::NAN))
        .collect();
    let mut out = Vec::new();
    for (c, name) in t.headers.iter().enumerate() {
        if c == tcol || name.trim().is_empty() {
            continue;
        }
        let values: Vec<f64> = t.rows.iter().map(|r| num(r.get(c))).collect();
        out.push(series(name.trim(), times.clone(), values));
    }
    Ok(out)
}

fn load_metrics_json(path: &Path) -> Result<Vec<MetricSeries>, AnalysisError> {
    let text = read_to_string(path)?;
    let v: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&text).map_err(|source| AnalysisError::Json {
            path: path.to_path_buf(),
            source,
        })?;
    let as_f64 = |x: &serde_json::Value| match x {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    let mut out = Vec::new();
    for (name, pts) in v {
        let Some(arr) = pts.as_array() else { continue };
        let mut times = Vec::with_capacity(arr.len());
        let mut values = Vec::with_capacity(arr.len());
        for p in arr {
            let Some(pair) = p.as_array() else { continue };
            let (Some(t), v) = (
                pair.first().and_then(as_f64),
                pair.get(1).and_then(as_f64).unwrap_or(f64::NAN),
            ) else {
                continue;
            };
            times.push(to_unix_seconds(t));
            values.push(v);
        }
        out.push(series(&name, times, values));
    }
    Ok(out)
}

/// Reads `logs.csv` (`time,timestamp,container_name,message,level,...`).
pub fn load_logs(path: &Path) -> Result<Vec<LogRecord>, AnalysisError> {
    let t = read_table(path)?;
    let tc = t.col(&["timestamp", "time"]);
    let tc2 = t.col(&["time"]);
    let sc = t.col(&["container_name", "service", "pod", "pod_name", "container"]);
    let mc = t.col(&["message", "log", "msg"]);
    let lc = t.col(&["level", "severity"]);
    let (Some(sc), Some(mc)) = (sc, mc) else {
        return Err(AnalysisError::bad(
            path,
            "logs.csv needs a service column (container_name) and a message column",
        ));
    };
    let mut out = Vec::with_capacity(t.rows.len());
    for r in &t.rows {
        let time = tc
            .and_then(|c| r.get(c))
            .and_then(parse_time)
            .or_else(|| tc2.and_then(|c| r.get(c)).and_then(parse_time));
        let (Some(time), Some(svc), Some(msg)) = (time, r.get(sc), r.get(mc)) else {
            continue;
        };
        let message = super::nezha::unwrap_log_message(msg);
        let level = lc
            .and_then(|c| r.get(c))
            .and_then(LogLevel::parse)
            .unwrap_or_else(|| LogLevel::sniff(&message));
        out.push(LogRecord {
            time,
            service: service_of_pod(svc.trim()),
            level,
            message,
        });
    }
    Ok(out)
}

/// Reads `traces.csv` (`time,traceID,spanID,serviceName,methodName,operationName,
/// startTimeMillis,startTime,duration,statusCode,parentSpanID`). `duration` is in the unit of
/// `startTime` (microseconds in Jaeger exports), told from the ratio to `startTimeMillis`.
pub fn load_traces(path: &Path) -> Result<Vec<Span>, AnalysisError> {
    let t = read_table(path)?;
    let c = |names: &[&str]| t.col(names);
    let (Some(tid), Some(sid), Some(svc)) = (
        c(&["traceID", "trace_id"]),
        c(&["spanID", "span_id"]),
        c(&["serviceName", "service_name", "service"]),
    ) else {
        return Err(AnalysisError::bad(
            path,
            "traces.csv needs traceID, spanID and serviceName columns",
        ));
    };
    let pid = c(&["parentSpanID", "parent_span_id", "parentID"]);
    let op = c(&["operationName", "methodName", "operation"]);
    let st_ms = c(&["startTimeMillis"]);
    let st = c(&["startTime", "start_time"]);
    let dur = c(&["duration"]);
    let status = c(&["statusCode", "status_code", "status"]);
    let mut out = Vec::with_capacity(t.rows.len());
    for r in &t.rows {
        let get = |i: Option<usize>| i.and_then(|i| r.get(i)).map(str::trim);
        let raw_start = num(get(st));
        let ms = num(get(st_ms));
        let start = if ms.is_finite() {
            ms / 1e3
        } else if raw_start.is_finite() {
            to_unix_seconds(raw_start)
        } else {
            continue;
        };
        // Unit of `startTime` (and so of `duration`) in seconds.
        let unit = if raw_start.is_finite() && raw_start != 0.0 {
            start / raw_start
        } else {
            1e-6
        };
        let d = num(get(dur)) * unit;
        if !d.is_finite() {
            continue;
        }
        let code = get(status).unwrap_or("");
        let error = code
            .parse::<f64>()
            .map(|v| v >= 400.0 || v == 2.0)
            .unwrap_or_else(|_| code.to_ascii_uppercase().contains("ERROR"));
        let parent = get(pid)
            .filter(|p| !p.is_empty() && *p != "0" && !p.eq_ignore_ascii_case("root"))
            .map(str::to_string);
        out.push(Span {
            trace_id: get(Some(tid)).unwrap_or("").to_string(),
            span_id: get(Some(sid)).unwrap_or("").to_string(),
            parent_id: parent,
            service: service_of_pod(get(Some(svc)).unwrap_or("")),
            operation: get(op).unwrap_or("").to_string(),
            start,
            duration: d,
            error,
        });
    }
    Ok(out)
}

/// Loads one RCAEval case.
pub fn load(r: &CaseRef) -> Result<Case, AnalysisError> {
    let dir = &r.dir;
    let series = if dir.join("data.csv").is_file() {
        load_wide_csv(&dir.join("data.csv"))?
    } else if dir.join("simple_metrics.csv").is_file() {
        load_wide_csv(&dir.join("simple_metrics.csv"))?
    } else {
        load_metrics_json(&dir.join("metrics.json"))?
    };
    let inject_path = dir.join("inject_time.txt");
    let inject_text = read_to_string(&inject_path)?;
    let onset = parse_time(inject_text.trim())
        .ok_or_else(|| AnalysisError::bad(&inject_path, "inject_time.txt holds no time"))?;
    let logs = if dir.join("logs.csv").is_file() {
        load_logs(&dir.join("logs.csv"))?
    } else {
        Vec::new()
    };
    let spans = if dir.join("traces.csv").is_file() {
        load_traces(&dir.join("traces.csv"))?
    } else {
        Vec::new()
    };
    let frame = TelemetryFrame {
        series,
        logs,
        spans,
    };
    let span = frame
        .time_span()
        .ok_or_else(|| AnalysisError::bad(dir, "the case holds no timestamped data"))?;
    let normal = if span.start < onset {
        vec![TimeRange::new(span.start, onset)]
    } else {
        Vec::new()
    };
    let topology = Topology::from_spans(&frame.spans);
    let (label, fault) = super::label_from_dir_name(dir);
    Ok(Case {
        reference: r.clone(),
        frame,
        window: Window {
            normal,
            incident: TimeRange::new(onset, span.end.max(onset + 1.0)),
            onset: Some(onset),
            alert_service: None,
            alert_metric: None,
        },
        topology,
        label,
        fault,
    })
}
