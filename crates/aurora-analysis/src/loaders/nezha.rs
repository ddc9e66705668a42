//! Nezha layout: a day directory with `<day>-fault_list.json`, `metric/*.csv` (one file per pod
//! or service, whole day, 1 min rows), `log/HH_MM_log.csv` and `trace/HH_MM_trace.csv` (one file
//! per minute around each fault), and fault-free reference minutes in a sibling
//! `construct_data/<day>/{log,trace}`. One case per listed fault.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::csvutil::{num, read_table};
use super::{Case, CaseRef, parse_time, read_to_string};
use crate::error::AnalysisError;
use crate::frame::{
    LogLevel, LogRecord, MetricKind, MetricSeries, Span, TelemetryFrame, TimeRange, Topology,
    Window, service_of_pod, unit_from_name,
};

/// Time after an earlier fault's window that is still not normal, in seconds. Default 60: one
/// metric row, so the row in which the system recovers is not taken as normal.
pub const RECOVERY_S: f64 = 60.0;

/// The `*fault_list.json` in `dir`, if any.
pub fn fault_list_path(dir: &Path) -> Option<PathBuf> {
    let rd = std::fs::read_dir(dir).ok()?;
    let mut found: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().ends_with("fault_list.json"))
        })
        .collect();
    found.sort();
    found.into_iter().next()
}

#[derive(Debug, Clone, Deserialize)]
struct RawFault {
    inject_time: Option<String>,
    inject_timestamp: Option<serde_json::Value>,
    inject_pod: Option<String>,
    inject_type: Option<String>,
}

/// One injected fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// Injection time, unix seconds (from `inject_time` read as UTC when present).
    pub time: f64,
    /// Pod the fault was injected into.
    pub pod: String,
    /// Fault type.
    pub kind: String,
}

fn read_faults(dir: &Path) -> Result<Vec<Fault>, AnalysisError> {
    let path = fault_list_path(dir).ok_or_else(|| AnalysisError::UnknownLayout(dir.into()))?;
    let raw: BTreeMap<String, Vec<RawFault>> = serde_json::from_str(&read_to_string(&path)?)
        .map_err(|source| AnalysisError::Json {
            path: path.clone(),
            source,
        })?;
    let mut out = Vec::new();
    for f in raw.into_values().flatten() {
        // `inject_time` (UTC) is preferred: the numeric field is hours off on some days.
        let time = f.inject_time.as_deref().and_then(parse_time).or_else(|| {
            f.inject_timestamp.as_ref().and_then(|v| match v {
                serde_json::Value::Number(n) => n.as_f64(),
                serde_json::Value::String(s) => parse_time(s),
                _ => None,
            })
        });
        let Some(time) = time else { continue };
        out.push(Fault {
            time,
            pod: f.inject_pod.unwrap_or_default(),
            kind: f.inject_type.unwrap_or_else(|| "unknown".into()),
        });
    }
    out.sort_by(|a, b| a.time.total_cmp(&b.time));
    Ok(out)
}

/// Number of faults listed in a day directory.
pub fn fault_count(dir: &Path) -> Result<usize, AnalysisError> {
    Ok(read_faults(dir)?.len())
}

/// The text of a log line: the `log`/`message`/`msg` field when the line is a JSON envelope,
/// else the line itself; trailing whitespace trimmed.
pub fn unwrap_log_message(raw: &str) -> String {
    let t = raw.trim();
    if t.starts_with('{')
        && let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(t)
    {
        for k in ["log", "message", "msg"] {
            if let Some(serde_json::Value::String(s)) = m.get(k) {
                return s.trim().to_string();
            }
        }
    }
    t.to_string()
}

fn load_metric_file(path: &Path) -> Result<Vec<MetricSeries>, AnalysisError> {
    let t = read_table(path)?;
    let tc = t
        .col(&["TimeStamp", "timestamp"])
        .or_else(|| t.col(&["Time"]));
    let Some(tc) = tc else {
        return Err(AnalysisError::bad(path, "no TimeStamp column"));
    };
    let nc = t.col(&["PodName", "ServiceName", "pod", "service"]);
    let skip: Vec<usize> = [t.col(&["Time"]), Some(tc), nc]
        .into_iter()
        .flatten()
        .collect();
    // Rows may name several pods; group by service.
    let mut by_service: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, r) in t.rows.iter().enumerate() {
        let svc = nc
            .and_then(|c| r.get(c))
            .map(|p| service_of_pod(p.trim()))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| {
                let stem = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_default();
                service_of_pod(stem.trim_end_matches("_metric"))
            });
        by_service.entry(svc).or_default().push(i);
    }
    let mut out = Vec::new();
    for (svc, rows) in by_service {
        let times: Vec<f64> = rows
            .iter()
            .map(|&i| t.rows[i].get(tc).and_then(parse_time).unwrap_or(f64::NAN))
            .collect();
        for (c, h) in t.headers.iter().enumerate() {
            if skip.contains(&c) || h.trim().is_empty() {
                continue;
            }
            let values: Vec<f64> = rows.iter().map(|&i| num(t.rows[i].get(c))).collect();
            out.push(MetricSeries {
                name: format!("{svc}/{}", h.trim()),
                service: svc.clone(),
                kind: MetricKind::infer(h),
                unit: unit_from_name(h.trim()),
                times: times.clone(),
                values,
            });
        }
    }
    Ok(out)
}

/// Reads a Nezha log file (`Timestamp,TimeUnixNano,Node,PodName,Container,TraceID,SpanID,Log`).
pub fn load_log_file(path: &Path) -> Result<Vec<LogRecord>, AnalysisError> {
    let t = read_table(path)?;
    let tc = t
        .col(&["TimeUnixNano"])
        .or_else(|| t.col(&["Timestamp", "time"]));
    let pc = t.col(&["PodName", "pod", "service"]);
    let lc = t.col(&["Log", "message"]);
    let (Some(tc), Some(pc), Some(lc)) = (tc, pc, lc) else {
        return Err(AnalysisError::bad(
            path,
            "log file needs time, PodName and Log columns",
        ));
    };
    let mut out = Vec::with_capacity(t.rows.len());
    for r in &t.rows {
        let (Some(time), Some(pod), Some(raw)) =
            (r.get(tc).and_then(parse_time), r.get(pc), r.get(lc))
        else {
            continue;
        };
        let message = unwrap_log_message(raw);
        out.push(LogRecord {
            time,
            service: service_of_pod(pod.trim()),
            level: LogLevel::sniff(&message),
            message,
        });
    }
    Ok(out)
}

/// Reads a Nezha trace file
/// (`TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration`).
pub fn load_trace_file(path: &Path) -> Result<Vec<Span>, AnalysisError> {
    let t = read_table(path)?;
    let c = |n: &[&str]| t.col(n);
    let (Some(tid), Some(sid), Some(pod), Some(st)) = (
        c(&["TraceID"]),
        c(&["SpanID"]),
        c(&["PodName", "ServiceName"]),
        c(&["StartTimeUnixNano", "StartTime"]),
    ) else {
        return Err(AnalysisError::bad(
            path,
            "trace file needs TraceID, SpanID, PodName, StartTimeUnixNano",
        ));
    };
    let pid = c(&["ParentID", "ParentSpanID"]);
    let et = c(&["EndTimeUnixNano", "EndTime"]);
    let du = c(&["Duration"]);
    let op = c(&["OperationName"]);
    let status = c(&["StatusCode", "Status"]);
    let mut out = Vec::with_capacity(t.rows.len());
    for r in &t.rows {
        let get = |i: Option<usize>| i.and_then(|i| r.get(i)).map(str::trim);
        let Some(start) = get(Some(st)).and_then(parse_time) else {
            continue;
        };
        let end = get(et).and_then(parse_time);
        let duration = match end {
            Some(e) if e >= start => e - start,
            // `Duration` is in microseconds in this layout.
            _ => num(get(du)) / 1e6,
        };
        if !duration.is_finite() {
            continue;
        }
        let parent = get(pid)
            .filter(|p| !p.is_empty() && !p.eq_ignore_ascii_case("root") && *p != "0")
            .map(str::to_string);
        let code = get(status).unwrap_or("");
        let error = code
            .parse::<f64>()
            .map(|v| v >= 400.0 || v == 2.0)
            .unwrap_or_else(|_| code.to_ascii_uppercase().contains("ERROR"));
        out.push(Span {
            trace_id: get(Some(tid)).unwrap_or("").to_string(),
            span_id: get(Some(sid)).unwrap_or("").to_string(),
            parent_id: parent,
            service: service_of_pod(get(Some(pod)).unwrap_or("")),
            operation: get(op).unwrap_or("").to_string(),
            start,
            duration,
            error,
        });
    }
    Ok(out)
}

/// `(hour, minute)` from a minute file name `HH_MM_<kind>.csv`.
fn minute_of(path: &Path) -> Option<(u32, u32)> {
    let name = path.file_name()?.to_string_lossy().to_string();
    let mut it = name.split('_');
    let h = it.next()?.parse().ok()?;
    let m = it.next()?.parse().ok()?;
    (h < 24 && m < 60).then_some((h, m))
}

fn csv_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "csv"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The minute files of `dir` for the fault at `t`: the file of the injection minute and the
/// following consecutive minutes. Files not named `HH_MM_*` are all taken.
fn fault_minute_files(dir: &Path, t: f64) -> (Vec<PathBuf>, Option<f64>) {
    let files = csv_files(dir);
    let day_start = (t / 86_400.0).floor() * 86_400.0;
    let minute_start = |(h, m): (u32, u32)| day_start + f64::from(h * 3600 + m * 60);
    if files.iter().any(|p| minute_of(p).is_none()) {
        return (files, None);
    }
    let t_min = (t / 60.0).floor() * 60.0;
    let mut picked = Vec::new();
    let mut next = t_min;
    while let Some(p) = files
        .iter()
        .find(|p| minute_of(p).is_some_and(|hm| (minute_start(hm) - next).abs() < 1.0))
    {
        picked.push(p.clone());
        next += 60.0;
    }
    let end = (!picked.is_empty()).then_some(next);
    (picked, end)
}

/// Loads fault `index` of a Nezha day directory.
pub fn load(r: &CaseRef, index: usize) -> Result<Case, AnalysisError> {
    let dir = &r.dir;
    let faults = read_faults(dir)?;
    let fault = faults.get(index).cloned().ok_or_else(|| {
        AnalysisError::bad(
            dir,
            format!(
                "fault #{index} not in the fault list ({} faults)",
                faults.len()
            ),
        )
    })?;

    let mut series = Vec::new();
    for p in csv_files(&dir.join("metric")) {
        series.extend(load_metric_file(&p)?);
    }
    let mut logs = Vec::new();
    let mut spans = Vec::new();
    let (log_files, log_end) = fault_minute_files(&dir.join("log"), fault.time);
    let (trace_files, trace_end) = fault_minute_files(&dir.join("trace"), fault.time);
    for p in &log_files {
        logs.extend(load_log_file(p)?);
    }
    for p in &trace_files {
        spans.extend(load_trace_file(p)?);
    }
    let incident_end = match (log_end, trace_end) {
        (Some(a), Some(b)) => a.max(b),
        (Some(a), None) | (None, Some(a)) => a,
        // No minute files: three metric rows, the usual length of an injected fault.
        (None, None) => fault.time + 180.0,
    };
    let incident = TimeRange::new(fault.time, incident_end);
    logs.retain(|l| incident.contains(l.time));
    spans.retain(|s| incident.contains(s.start));

    // Normal windows for metrics: everything before this fault that lies outside every earlier
    // fault's window (its minute files, or three rows when it has none) and the recovery row
    // after it. Taking the whole fault-free history, not a fixed lead-in, keeps the baseline
    // close in time to the incident and wide enough to include the day's drift.
    let mut normal = Vec::new();
    let metric_start = series
        .iter()
        .filter_map(|s| s.times.iter().copied().find(|t| t.is_finite()))
        .fold(f64::INFINITY, f64::min);
    if metric_start.is_finite() {
        let mut cursor = metric_start;
        for f in faults.iter().filter(|f| f.time < fault.time) {
            let (_, end) = fault_minute_files(&dir.join("trace"), f.time);
            let end = end.unwrap_or(f.time + 180.0) + RECOVERY_S;
            if f.time > cursor {
                normal.push(TimeRange::new(cursor, f.time));
            }
            cursor = cursor.max(end);
        }
        if fault.time > cursor {
            normal.push(TimeRange::new(cursor, fault.time));
        }
    }
    if let (Some(root), Some(day)) = (dir.parent().and_then(Path::parent), dir.file_name()) {
        let construct = root.join("construct_data").join(day);
        let mut ref_logs = Vec::new();
        let mut ref_spans = Vec::new();
        for p in csv_files(&construct.join("log")) {
            ref_logs.extend(load_log_file(&p)?);
        }
        for p in csv_files(&construct.join("trace")) {
            ref_spans.extend(load_trace_file(&p)?);
        }
        let reference = TelemetryFrame {
            series: Vec::new(),
            logs: ref_logs,
            spans: ref_spans,
        };
        if let Some(span) = reference.time_span()
            && (span.end <= incident.start || span.start >= incident.end)
        {
            normal.push(span);
            logs.extend(reference.logs);
            spans.extend(reference.spans);
        }
    }
    let frame = TelemetryFrame {
        series,
        logs,
        spans,
    };
    let topology = Topology::from_spans(&frame.spans);
    Ok(Case {
        reference: r.clone(),
        frame,
        window: Window {
            normal,
            incident,
            onset: Some(fault.time),
            alert_service: None,
            alert_metric: None,
        },
        topology,
        label: Some(service_of_pod(&fault.pod)),
        fault: Some(fault.kind),
    })
}
