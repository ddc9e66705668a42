//! Times and durations as people and models write them in tool arguments: RFC 3339, unix
//! seconds, `now`, or relative to now (`-1h`, `now-30m`); durations in Prometheus's notation
//! (`90s`, `1h30m`, `2d`) or as seconds.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Seconds since the epoch, now.
pub fn now() -> f64 {
    let now = OffsetDateTime::now_utc();
    now.unix_timestamp() as f64 + f64::from(now.nanosecond()) / 1e9
}

/// Parses a time relative to `now` (unix seconds): `now`, `-1h`, `now-1h`, `now+5m`, an RFC
/// 3339 timestamp or unix seconds. The error says which forms are accepted.
pub fn parse_time(text: &str, now: f64) -> Result<f64, String> {
    let text = text.trim();
    let accepted = "use RFC 3339 (2024-05-01T12:00:00Z), unix seconds, \"now\" or a relative \
                    time like \"-1h\" or \"now-30m\"";
    if text.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    let relative = text
        .strip_prefix("now")
        .or_else(|| text.strip_prefix("NOW"))
        .unwrap_or(text);
    if let Some(rest) = relative.strip_prefix('-') {
        let d = parse_duration(rest).map_err(|e| format!("{text:?}: {e}; {accepted}"))?;
        return Ok(now - d);
    }
    if let Some(rest) = relative.strip_prefix('+') {
        let d = parse_duration(rest).map_err(|e| format!("{text:?}: {e}; {accepted}"))?;
        return Ok(now + d);
    }
    if let Ok(secs) = text.parse::<f64>() {
        return if secs.is_finite() && secs >= 0.0 {
            Ok(secs)
        } else {
            Err(format!("{text:?} is not a time; {accepted}"))
        };
    }
    OffsetDateTime::parse(text, &Rfc3339)
        .map(|t| t.unix_timestamp() as f64 + f64::from(t.nanosecond()) / 1e9)
        .map_err(|_| format!("{text:?} is not a time; {accepted}"))
}

/// Parses a duration in seconds: a plain number of seconds, or Prometheus's notation, units
/// `ms`, `s`, `m`, `h`, `d`, `w`, `y` combined from largest to smallest (`1h30m`).
pub fn parse_duration(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let invalid =
        || format!("{text:?} is not a duration; use seconds or e.g. \"30s\", \"5m\", \"1h30m\"");
    if let Ok(secs) = text.parse::<f64>() {
        return if secs.is_finite() && secs >= 0.0 {
            Ok(secs)
        } else {
            Err(invalid())
        };
    }
    if text.is_empty() {
        return Err(invalid());
    }
    let mut total = 0.0;
    let mut rest = text;
    let mut last_unit = f64::INFINITY;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(invalid)?;
        if digits == 0 {
            return Err(invalid());
        }
        let value: f64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            "w" => 604_800.0,
            "y" => 31_536_000.0,
            _ => return Err(invalid()),
        };
        if unit >= last_unit {
            return Err(invalid());
        }
        last_unit = unit;
        total += value * unit;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// Formats unix seconds as RFC 3339 (UTC), or the number itself when out of range.
pub fn format_time(secs: f64) -> String {
    let nanos = (secs * 1e9).round() as i128;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| secs.to_string())
}

/// Formats seconds in Prometheus's duration notation, rounded to whole seconds (at least 1s).
pub fn format_duration(secs: f64) -> String {
    let mut secs = (secs.round() as u64).max(1);
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests;
