use super::*;

#[test]
fn aws_times_with_compact_offsets_parse() {
    let at = parse_aws_time("2021-03-16T14:34:50.285+0000").unwrap();
    assert_eq!(at.unix_timestamp(), 1_615_905_290);
    assert_eq!(
        parse_aws_time("2021-03-16T14:34:50Z")
            .unwrap()
            .unix_timestamp(),
        1_615_905_290
    );
    assert!(parse_aws_time("yesterday").is_none());
    assert!(parse_aws_time("+0000").is_none());
}

#[test]
fn console_links_encode_the_alarm_name() {
    assert_eq!(
        console_link("aws", "us-east-1", "CPU high / web"),
        "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#alarmsV2:alarm/CPU%20high%20%2F%20web"
    );
    assert!(console_link("aws-cn", "cn-north-1", "a").starts_with("https://console.amazonaws.cn/"));
}
