use std::collections::BTreeMap;
use std::time::Duration;

use time::OffsetDateTime;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn rule(names: &[&str]) -> GroupingRule {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let new = NewGroupingRule::parse("r", &names, Duration::from_secs(60)).unwrap();
    GroupingRule {
        id: GroupingRuleId::new(),
        org_id: OrgId::new(),
        name: new.name().to_owned(),
        labels: new.labels().to_vec(),
        window: new.window(),
        created_at: OffsetDateTime::UNIX_EPOCH,
    }
}

#[test]
fn the_key_depends_on_the_rule_labels_only_and_needs_all_of_them() {
    let rule = rule(&["cluster", "alertname"]);
    let a = labels(&[("cluster", "eu"), ("alertname", "Down"), ("instance", "1")]);
    let b = labels(&[("cluster", "eu"), ("alertname", "Down"), ("instance", "2")]);
    let c = labels(&[("cluster", "us"), ("alertname", "Down")]);
    assert_eq!(rule.group_key(&a), rule.group_key(&b));
    assert_ne!(rule.group_key(&a), rule.group_key(&c));
    assert_eq!(rule.group_key(&labels(&[("cluster", "eu")])), None);
}

#[test]
fn values_are_kept_apart_by_length() {
    let rule = rule(&["a", "b"]);
    assert_ne!(
        rule.group_key(&labels(&[("a", "x"), ("b", "yz")])),
        rule.group_key(&labels(&[("a", "xy"), ("b", "z")]))
    );
}

#[test]
fn bad_rules_are_refused() {
    let one = vec!["cluster".to_owned()];
    let minute = Duration::from_secs(60);
    assert!(NewGroupingRule::parse("", &one, minute).is_err());
    assert!(NewGroupingRule::parse("r", &[], minute).is_err());
    assert!(NewGroupingRule::parse("r", &[" ".to_owned()], minute).is_err());
    assert!(NewGroupingRule::parse("r", &["a".into(), "a".into()], minute).is_err());
    assert!(NewGroupingRule::parse("r", &one, Duration::ZERO).is_err());
    assert!(NewGroupingRule::parse("r", &one, MAX_WINDOW * 2).is_err());
    let ok = NewGroupingRule::parse(" r ", &["b".into(), "a".into()], minute).unwrap();
    assert_eq!(ok.name(), "r");
    assert_eq!(ok.labels(), ["a", "b"]);
}
