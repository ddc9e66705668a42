use serde_json::json;

use super::*;
use crate::alertmanager::config::{AlertmanagerConfig, Credentials};
use crate::ssrf::UrlPolicy;

const NOW: f64 = 1_714_564_800.0; // 2024-05-01T12:00:00Z

fn silence(args: Value) -> Result<NewSilence, ToolError> {
    new_silence(parse_args(args)?, NOW)
}

fn invalid_message(args: Value) -> String {
    match silence(args.clone()) {
        Err(ToolError::InvalidArguments(message)) => message,
        other => panic!("{args}: expected invalid arguments, got {other:?}"),
    }
}

#[test]
fn names_effects_and_schemas() {
    let config = AlertmanagerConfig::default();
    let client = Arc::new(
        AlertmanagerClient::new(&config, Credentials::None, &UrlPolicy::default()).unwrap(),
    );
    let tools = tools(client, "prod");
    let specs: Vec<(&str, ToolEffect)> = tools
        .iter()
        .map(|t| (t.spec().name.as_str(), t.spec().effect))
        .collect();
    assert_eq!(
        specs,
        [
            ("alertmanager_alerts", ToolEffect::ReadOnly),
            ("alertmanager_silences", ToolEffect::ReadOnly),
            ("alertmanager_create_silence", ToolEffect::Mutating),
        ]
    );
    for tool in &tools {
        let spec = tool.spec();
        assert!(
            spec.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                && spec.name.len() <= 64
        );
        assert_eq!(spec.parameters["type"], "object");
        assert!(
            spec.description.contains("\"prod\""),
            "{}",
            spec.description
        );
    }
    assert_eq!(
        tools[2].spec().parameters["required"],
        json!(["matchers", "duration", "comment"])
    );
}

#[test]
fn a_valid_silence_starts_now_and_is_made_by_aurora() {
    let s = silence(json!({
        "matchers": [
            {"name": "alertname", "value": "HighLatency"},
            {"name": "instance", "value": "web-.*", "is_regex": true},
            {"name": "severity", "value": "info", "is_equal": false}
        ],
        "duration": "2h",
        "comment": "  INC-42: deploying the fix  "
    }))
    .unwrap();
    assert_eq!(s.starts_at, "2024-05-01T12:00:00Z");
    assert_eq!(s.ends_at, "2024-05-01T14:00:00Z");
    assert_eq!(s.created_by, "aurora");
    assert_eq!(s.comment, "INC-42: deploying the fix");
    let texts: Vec<String> = s.matchers.iter().map(Matcher::to_text).collect();
    assert_eq!(
        texts,
        [
            r#"alertname="HighLatency""#,
            r#"instance=~"web-.*""#,
            r#"severity!="info""#
        ]
    );
    let s = silence(json!({
        "matchers": [{"name": "alertname", "value": "X"}], "duration": 90, "comment": "c"
    }))
    .unwrap();
    assert_eq!(s.ends_at, "2024-05-01T12:01:30Z");
}

#[test]
fn bad_silence_arguments_say_what_to_fix() {
    let m = json!([{"name": "alertname", "value": "HighLatency"}]);
    let cases = [
        (
            json!({"duration": "1h", "comment": "c"}),
            "matchers is required",
        ),
        (
            json!({"matchers": [], "duration": "1h", "comment": "c"}),
            "would silence every alert",
        ),
        (
            json!({"matchers": [{"name": " ", "value": "x"}], "duration": "1h", "comment": "c"}),
            "empty name",
        ),
        (
            json!({"matchers": [{"name": "alertname", "value": ""}], "duration": "1h", "comment": "c"}),
            "cover nearly every alert",
        ),
        (
            json!({"matchers": [{"name": "severity", "value": "info", "is_equal": false}], "duration": "1h", "comment": "c"}),
            "cover nearly every alert",
        ),
        (
            json!({"matchers": [{"name": "alertname", "value": ".+", "is_regex": true}], "duration": "1h", "comment": "c"}),
            "cover nearly every alert",
        ),
        (
            json!({"matchers": m, "comment": "c"}),
            "duration is required",
        ),
        (
            json!({"matchers": m, "duration": "soon", "comment": "c"}),
            "is not a duration",
        ),
        (
            json!({"matchers": m, "duration": "30s", "comment": "c"}),
            "from 1m to 7d",
        ),
        (
            json!({"matchers": m, "duration": "8d", "comment": "c"}),
            "from 1m to 7d",
        ),
        (
            json!({"matchers": m, "duration": -5, "comment": "c"}),
            "out of range",
        ),
        (
            json!({"matchers": m, "duration": "1h"}),
            "comment is required",
        ),
        (
            json!({"matchers": m, "duration": "1h", "comment": "   "}),
            "comment is required",
        ),
        (
            json!({"matchers": m, "duration": "1h", "comment": "x".repeat(1001)}),
            "shorten it",
        ),
        (
            json!({"matchers": ["alertname=\"X\""], "duration": "1h", "comment": "c"}),
            "check the arguments against the schema",
        ),
        (
            json!({"matchers": m, "duration": "1h", "comment": "c", "created_by": "me"}),
            "unknown field `created_by`",
        ),
    ];
    for (args, want) in cases {
        let message = invalid_message(args.clone());
        assert!(
            message.contains(want),
            "{args}: {message} (wanted {want:?})"
        );
    }
}

#[test]
fn filters_and_limits_are_checked() {
    assert_eq!(
        filter(Some(OneOrMany::One(" service=\"x\" ".into()))).unwrap(),
        ["service=\"x\""]
    );
    assert!(filter(Some(OneOrMany::Many(vec![String::new()]))).is_err());
    assert!(limit(Some(0)).is_err());
    assert!(limit(Some(MAX_LIMIT + 1)).is_err());
    assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
}
