//! Small helpers to write PromQL safely: quoted strings, regex escaping and the selectors that
//! find a service's series.

/// A PromQL double-quoted string literal holding `value`.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `value` with RE2 metacharacters escaped, to match it literally inside a regex.
pub fn regex_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `{label="value"}`.
pub fn selector(label: &str, value: &str) -> String {
    format!("{{{label}={}}}", quote(value))
}

/// The selectors that find a service's series: its `service`, `job`, `app` or `container`
/// label equals the name, or its `pod` is the name or starts with `<name>-` (a Deployment's or
/// StatefulSet's pods).
pub fn service_selectors(service: &str) -> Vec<String> {
    let mut selectors: Vec<String> = ["service", "job", "app", "container"]
        .iter()
        .map(|label| selector(label, service))
        .collect();
    selectors.push(pod_selector(service));
    selectors
}

/// `{pod=~"<name>(-.+)?"}`: the pods named after a workload.
pub fn pod_selector(workload: &str) -> String {
    format!(
        "{{pod=~{}}}",
        quote(&format!("{}(-.+)?", regex_escape(workload)))
    )
}

/// The service a series belongs to, from its labels: `service`, else `job`, else `app`, else
/// the `pod` name without its replica suffix. `None` when it has none of them.
pub fn service_of(labels: &std::collections::BTreeMap<String, String>) -> Option<String> {
    ["service", "job", "app"]
        .iter()
        .find_map(|l| labels.get(*l).filter(|v| !v.is_empty()).cloned())
        .or_else(|| {
            labels
                .get("pod")
                .filter(|v| !v.is_empty())
                .map(|pod| pod_workload(pod))
        })
}

/// A pod's workload name: `checkout-7d9f8b6c5-x2x4z` → `checkout`, `db-0` → `db`.
pub fn pod_workload(pod: &str) -> String {
    let parts: Vec<&str> = pod.split('-').collect();
    // Kubernetes' generated names use an alphabet without vowels (`SafeEncodeString`).
    let generated = |s: &str| s.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c));
    let is_hash = |s: &str| (5..=10).contains(&s.len()) && generated(s);
    let is_suffix5 = |s: &str| s.len() == 5 && generated(s);
    let is_ordinal = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let keep = match parts.as_slice() {
        [head @ .., hash, suffix] if !head.is_empty() && is_hash(hash) && is_suffix5(suffix) => {
            head.len()
        }
        [head @ .., last] if !head.is_empty() && (is_ordinal(last) || is_suffix5(last)) => {
            head.len()
        }
        _ => parts.len(),
    };
    parts[..keep].join("-")
}

#[cfg(test)]
mod tests;
