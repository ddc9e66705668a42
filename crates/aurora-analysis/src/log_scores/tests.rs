//! Promises of log scoring.

use super::*;
use crate::frame::{TimeRange, Window};

#[test]
fn masking_variables_keeps_lines_that_differ_in_times_and_ids_in_one_template() {
    // Every line carries its own time of day and span id; nothing changes at the onset.
    let logs: Vec<LogRecord> = (0..200)
        .map(|i| LogRecord {
            time: i as f64,
            service: "svc".into(),
            level: LogLevel::Info,
            message: format!(
                "10:{:02}:{:02}.{:03} INFO handled request SpanID: {:013x} in {} ms",
                i / 60,
                i % 60,
                i * 7 % 1000,
                0x1a2b3c4d5e6f7u64 + i as u64 * 7919,
                10 + i % 5
            ),
        })
        .collect();
    let window = Window {
        normal: vec![TimeRange::new(0.0, 100.0)],
        incident: TimeRange::new(100.0, 200.0),
        onset: Some(100.0),
        alert_service: None,
        alert_metric: None,
    };
    let split = Split::new(&window, 100.0);
    let masked = score(
        &logs,
        &split,
        &LogParams {
            mask_variables: true,
            ..LogParams::default()
        },
    );
    assert_eq!(masked.get("svc").map(|f| f.score), Some(0.0), "{masked:#?}");
}
