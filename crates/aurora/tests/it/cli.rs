//! The `aurora` binary as a person runs it.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn aurora(args: &[&str], dir: &std::path::Path, stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aurora"))
        .args(args)
        .current_dir(dir)
        .env_remove("AURORA_CONFIG")
        .env("AURORA__LOG__LEVEL", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run aurora");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(input.as_bytes()).expect("write to stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("aurora finished")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_bad_config_file_is_refused_with_the_file_key_and_allowed_values() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("aurora.toml"),
        "[server]\nlissen = \"127.0.0.1:1\"\n",
    )
    .unwrap();
    let out = aurora(&["config"], dir.path(), None);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("aurora.toml") && err.contains("lissen") && err.contains("listen"),
        "{err}"
    );

    let out = aurora(&["--config", "missing.toml", "config"], dir.path(), None);
    assert!(text(&out.stderr).contains("missing.toml does not exist"));
}

#[test]
fn config_prints_the_effective_settings_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("aurora.toml"),
        "[database]\nurl = \"postgres://aurora:hunter2@db:5432/aurora\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_aurora"))
        .arg("config")
        .current_dir(dir.path())
        .env("AURORA__SERVER__LISTEN", "127.0.0.1:9999")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("listen = \"127.0.0.1:9999\""), "{shown}");
    assert!(
        shown.contains("postgres://aurora:***@db:5432/aurora") && !shown.contains("hunter2"),
        "{shown}"
    );
    assert!(shown.contains("request_timeout = \"30s\""), "{shown}");
}

#[test]
fn an_unreachable_database_stops_start_up_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_aurora"))
        .args(["migrate"])
        .current_dir(dir.path())
        .env(
            "AURORA__DATABASE__URL",
            "postgres://aurora:pw@127.0.0.1:1/aurora",
        )
        .env("AURORA__DATABASE__CONNECT_TIMEOUT", "2s")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot connect to the database")
            && err.contains("***")
            && !err.contains(":pw@"),
        "{err}"
    );
}

#[test]
fn admin_commands_create_the_first_admin_and_a_working_token() {
    let dir = tempfile::tempdir().unwrap();
    let viewer_first = aurora(
        &[
            "admin",
            "create-user",
            "--email",
            "v@example.com",
            "--password-stdin",
        ],
        dir.path(),
        Some("long enough password\n"),
    );
    assert!(!viewer_first.status.success());
    assert!(text(&viewer_first.stderr).contains("--role admin"));

    let created = aurora(
        &[
            "admin",
            "create-user",
            "--email",
            "ops@example.com",
            "--role",
            "admin",
            "--password-stdin",
        ],
        dir.path(),
        Some("long enough password\n"),
    );
    assert!(created.status.success(), "{}", text(&created.stderr));
    assert!(text(&created.stdout).contains("created admin user ops@example.com"));

    let weak = aurora(
        &[
            "admin",
            "create-user",
            "--email",
            "x@example.com",
            "--password-stdin",
        ],
        dir.path(),
        Some("short\n"),
    );
    assert!(
        text(&weak.stderr).contains("at least 12 characters"),
        "{}",
        text(&weak.stderr)
    );

    let token = aurora(
        &[
            "admin",
            "create-token",
            "--email",
            "ops@example.com",
            "--name",
            "ci",
        ],
        dir.path(),
        None,
    );
    assert!(token.status.success(), "{}", text(&token.stderr));
    let value = text(&token.stdout).trim().to_owned();
    assert!(value.starts_with("aur_") && value.len() > 40, "{value}");

    let migrated = aurora(&["migrate"], dir.path(), None);
    assert!(
        text(&migrated.stdout).contains("is up to date"),
        "{}",
        text(&migrated.stderr)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = std::fs::metadata(dir.path().join("aurora-data/secret.key")).unwrap();
        assert_eq!(key.permissions().mode() & 0o777, 0o600);
    }
}

#[test]
fn version_and_help_read_well() {
    let dir = tempfile::tempdir().unwrap();
    let version = aurora(&["version"], dir.path(), None);
    assert!(text(&version.stdout).starts_with("aurora "));
    let help = aurora(&["--help"], dir.path(), None);
    let help = text(&help.stdout);
    for command in ["serve", "migrate", "config", "admin", "version"] {
        assert!(help.contains(command), "{help}");
    }
}

#[test]
fn serve_prints_where_it_listens_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_aurora"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("AURORA__LOG__LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    let mut second = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut second).unwrap();
    let mut third = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut third).unwrap();
    assert!(
        first.contains("is listening on http://127.0.0.1:"),
        "{first}"
    );
    assert!(
        second.contains("aurora-data") && second.contains("sqlite"),
        "{second}"
    );
    assert!(third.contains("/setup"), "{third}");
    #[cfg(unix)]
    {
        let pid = child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "exit after SIGTERM: {status}");
    }
    #[cfg(not(unix))]
    child.kill().unwrap();
}

#[test]
fn eval_prints_the_scores_as_json() {
    let datasets = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/datasets/rcd-sockshop");
    if !datasets.is_dir() {
        eprintln!("skipped: {} is absent", datasets.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_aurora"))
        .args(["eval", "--json", "--limit", "2"])
        .arg(&datasets)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "cases",
        "ac1",
        "ac3",
        "ac5",
        "avg5",
        "mean_seconds",
        "per_fault",
    ] {
        assert!(report.get(key).is_some(), "no {key} in {report}");
    }
    assert!(report["cases"].as_u64().unwrap() >= 2);
    let ac1 = report["ac1"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&ac1));

    let missing = Command::new(env!("CARGO_BIN_EXE_aurora"))
        .args(["analyze", "no/such/case"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(!text(&missing.stderr).is_empty());
}

#[test]
fn kb_add_indexes_a_folder_and_kb_search_finds_it() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/knowledge");
    let out = aurora(&["kb", "list"], dir.path(), None);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not set up"),
        "{}",
        text(&out.stderr)
    );
    let out = aurora(
        &[
            "admin",
            "create-user",
            "--email",
            "ops@example.com",
            "--role",
            "admin",
            "--password-stdin",
        ],
        dir.path(),
        Some("a long enough password\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The model, when this machine has it, installed the way a person would.
    let hybrid = match std::env::var("AURORA_MODEL_DIR") {
        Ok(model) => {
            let out = aurora(&["models", "install", "--from", &model], dir.path(), None);
            assert!(out.status.success(), "{}", text(&out.stderr));
            assert!(
                text(&out.stdout).contains("384 dimensions"),
                "{}",
                text(&out.stdout)
            );
            true
        }
        Err(_) => false,
    };

    let out = aurora(
        &[
            "kb",
            "add",
            "--kind",
            "runbook",
            "--tag",
            "ops",
            corpus.to_str().unwrap(),
        ],
        dir.path(),
        None,
    );
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // 8 Markdown runbooks, the PDF, and queries.json (JSON is text: indexed too).
    assert!(
        stdout.contains("10 indexed, 0 already present, 0 failed"),
        "{stdout}\n{stderr}"
    );
    assert_eq!(stderr.contains("keyword search only"), !hybrid, "{stderr}");

    let out = aurora(
        &["kb", "add", corpus.join("corpus").to_str().unwrap()],
        dir.path(),
        None,
    );
    assert!(
        text(&out.stdout).contains("0 indexed, 8 already present"),
        "{}",
        text(&out.stdout)
    );

    let out = aurora(
        &["kb", "search", "coredns keeps crashing", "-k", "1"],
        dir.path(),
        None,
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains(if hybrid { "Hybrid" } else { "KeywordOnly" }),
        "{stdout}"
    );
    assert!(
        stdout.contains("DNS resolution failures inside the cluster"),
        "{stdout}"
    );

    let out = aurora(&["kb", "list"], dir.path(), None);
    let listed = text(&out.stdout);
    assert_eq!(listed.lines().count(), 10, "{listed}");
    let id = listed
        .lines()
        .find(|l| l.contains("DNS resolution"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    let out = aurora(&["kb", "delete", &id], dir.path(), None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = aurora(&["kb", "list"], dir.path(), None);
    assert_eq!(text(&out.stdout).lines().count(), 9);
}
