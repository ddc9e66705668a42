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

// --- `aurora chat`, against a running Aurora and a scripted model ---

mod chat {
    use std::process::Stdio;
    use std::time::Duration;

    use aurora_testkit::llm::{ScriptedLlm, ScriptedTurn};
    use aurora_testkit::{TestApp, client, spawn_app};
    use serde_json::json;

    use super::text;

    const ANSWER: &str = "Checkout is slow because the payments database is saturated.";

    /// An app with an admin whose token is returned; the model is `llm` when given.
    async fn app(llm: Option<&ScriptedLlm>) -> (TestApp, String) {
        let app = spawn_app().await;
        let admin = app.create_admin().await;
        let token = app.token_for(&admin).await;
        if let Some(llm) = llm {
            let response = client()
                .put(app.url("/api/v1/settings/llm"))
                .bearer_auth(&token)
                .json(&json!({
                    "provider": "openai_compatible", "model": "scripted",
                    "base_url": llm.base_url(), "api_key": ScriptedLlm::API_KEY
                }))
                .send()
                .await
                .unwrap();
            assert!(
                response.status().is_success(),
                "{:?}",
                response.text().await
            );
        }
        (app, token)
    }

    /// `aurora chat ARGS` against `app` with `token`, `stdin` piped in (or none at all).
    async fn chat(
        app: &TestApp,
        token: &str,
        args: &[&str],
        stdin: Option<&str>,
    ) -> std::process::Output {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_aurora"));
        command
            .arg("chat")
            .args(["--server", &app.address, "--token", token])
            .args(args)
            .env_remove("AURORA_CONFIG")
            .env_remove("AURORA_SERVER")
            .env_remove("AURORA_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .kill_on_drop(true);
        let mut child = command.spawn().expect("run aurora chat");
        if let Some(input) = stdin {
            use tokio::io::AsyncWriteExt;
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(input.as_bytes()).await.unwrap();
            drop(pipe);
        }
        tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("aurora chat finished within a minute")
            .unwrap()
    }

    #[tokio::test]
    async fn chat_ask_prints_the_answer_and_list_shows_the_session() {
        let llm = ScriptedLlm::start([ScriptedTurn::text(ANSWER)]).await;
        let (app, token) = app(Some(&llm)).await;

        let out = chat(&app, &token, &["--ask", "why is checkout slow?"], None).await;
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains(ANSWER), "{stdout}\n{stderr}");
        // The question went to the model as the last user message.
        let asked = llm.requests()[0].body["messages"].to_string();
        assert!(asked.contains("why is checkout slow?"), "{asked}");

        let out = chat(&app, &token, &["--list"], None).await;
        let listed = text(&out.stdout);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            listed.starts_with("ID") && listed.contains("why is checkout slow?"),
            "{listed}"
        );

        let out = chat(&app, "aur_not-a-token", &["--ask", "hello?"], None).await;
        assert!(!out.status.success());
        let err = text(&out.stderr);
        assert!(err.contains("token") && err.contains("401"), "{err}");
        let out = chat(&app, "aur_not-a-token", &["--list"], None).await;
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains("token"));
    }

    #[tokio::test]
    async fn chat_without_a_model_exits_non_zero_with_the_reason() {
        let (app, token) = app(None).await;
        let out = chat(&app, &token, &["--ask", "why is checkout slow?"], None).await;
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
        assert!(
            stdout.contains("[failed]") && stdout.contains("no chat model is configured"),
            "{stdout}\n{stderr}"
        );
        assert!(stderr.contains("not answered"), "{stderr}");

        let unreachable = tokio::process::Command::new(env!("CARGO_BIN_EXE_aurora"))
            .args([
                "chat",
                "--server",
                "http://127.0.0.1:1",
                "--token",
                "t",
                "--list",
            ])
            .output()
            .await
            .unwrap();
        assert!(!unreachable.status.success());
        assert!(
            text(&unreachable.stderr).contains("cannot reach Aurora at http://127.0.0.1:1/"),
            "{}",
            text(&unreachable.stderr)
        );
        let bad = tokio::process::Command::new(env!("CARGO_BIN_EXE_aurora"))
            .args([
                "chat",
                "--server",
                "127.0.0.1:8080",
                "--token",
                "t",
                "--list",
            ])
            .output()
            .await
            .unwrap();
        assert!(!bad.status.success());
        assert!(
            text(&bad.stderr).contains("--server"),
            "{}",
            text(&bad.stderr)
        );
    }

    #[tokio::test]
    async fn chat_reads_questions_from_piped_input_and_resumes_a_session_with_its_history() {
        let llm = ScriptedLlm::with_responder(|body| {
            let last = body["messages"]
                .as_array()
                .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
                .and_then(|m| m["content"].as_str())
                .unwrap_or_default()
                .to_owned();
            ScriptedTurn::text(format!("You asked: {last}"))
        })
        .await;
        let (app, token) = app(Some(&llm)).await;

        let out = chat(
            &app,
            &token,
            &["--title", "Piped"],
            Some("first question\nsecond question\n"),
        )
        .await;
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{stdout}\n{stderr}");
        let first = stdout.find("You asked: first question").expect(&stdout);
        let second = stdout.find("You asked: second question").expect(&stdout);
        assert!(first < second, "{stdout}");

        let listed = text(&chat(&app, &token, &["--list"], None).await.stdout);
        let line = listed.lines().find(|l| l.contains("Piped")).expect(&listed);
        let id = line.split_whitespace().next().unwrap();

        // Resumed: the history is printed, then the next question is answered.
        let out = chat(&app, &token, &["--session", id], Some("third question\n")).await;
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{stdout}\n{stderr}");
        for expected in [
            "» Ada Admin: first question",
            "You asked: second question",
            "You asked: third question",
        ] {
            assert!(
                stdout.contains(expected),
                "{expected:?} in {stdout}\n{stderr}"
            );
        }
        assert_eq!(
            stdout.matches("You asked: third question").count(),
            1,
            "{stdout}"
        );
    }

    /// A session in agent mode whose model asks to create an Alertmanager silence; the
    /// connector points at a closed port, so an approved call fails when it runs.
    async fn agent_app(llm: &ScriptedLlm) -> (TestApp, String) {
        let (app, token) = app(Some(llm)).await;
        let connector = client()
            .post(app.url("/api/v1/connectors"))
            .bearer_auth(&token)
            .json(&json!({"kind": "alertmanager", "name": "am",
                          "config": {"url": "http://127.0.0.1:1"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(connector.status(), 201, "{:?}", connector.text().await);
        (app, token)
    }

    fn silence() -> serde_json::Value {
        json!({
            "matchers": [{"name": "alertname", "value": "CheckoutLatencyHigh"}],
            "duration": "1h",
            "comment": "rollback in progress"
        })
    }

    #[tokio::test]
    async fn chat_ask_without_a_terminal_rejects_approvals_and_says_why() {
        let llm = ScriptedLlm::start([
            ScriptedTurn::TextThenTools(
                "I will silence the alert.".into(),
                vec![("alertmanager_create_silence".into(), silence())],
            ),
            ScriptedTurn::text("Understood; the alert is not silenced."),
        ])
        .await;
        let (app, token) = agent_app(&llm).await;
        let out = chat(
            &app,
            &token,
            &["--mode", "agent", "--ask", "silence the checkout alert"],
            None,
        )
        .await;
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{stdout}\n{stderr}");
        for expected in [
            "I will silence the alert.",
            "▸ alertmanager_create_silence {",
            "approval needed to run alertmanager_create_silence",
            "\"comment\": \"rollback in progress\"",
            "rejecting it: no terminal to approve from",
            "✗ rejected by Ada Admin: no terminal to approve from",
            "Understood; the alert is not silenced.",
        ] {
            assert!(
                stdout.contains(expected),
                "{expected:?} in {stdout}\n{stderr}"
            );
        }
        let told = llm.requests()[1].body["messages"].to_string();
        assert!(told.contains("no terminal to approve from"), "{told}");
    }

    #[tokio::test]
    async fn chat_asks_for_approval_and_shows_the_tool_cards() {
        let llm = ScriptedLlm::start([
            ScriptedTurn::tool_call("alertmanager_create_silence", silence()),
            ScriptedTurn::text("The silence could not be created."),
        ])
        .await;
        let (app, token) = agent_app(&llm).await;
        let out = chat(
            &app,
            &token,
            &["--mode", "agent"],
            Some("silence the checkout alert\ny\n"),
        )
        .await;
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(stderr.contains("Approve? [y/N]"), "{stderr}");
        for expected in [
            "▸ alertmanager_create_silence {",
            "✓ approved by Ada Admin",
            "  ✗ ",
            "The silence could not be created.",
        ] {
            assert!(
                stdout.contains(expected),
                "{expected:?} in {stdout}\n{stderr}"
            );
        }
    }
}
