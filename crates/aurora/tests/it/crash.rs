//! An investigation survives its worker being killed: a real Prometheus alert reaches an
//! `aurora serve` process through Alertmanager, the investigation gathers evidence through the
//! organisation's Prometheus connector and lets a (scripted) model call a Prometheus tool; the
//! process is killed with SIGKILL while the model thinks, restarted on the same data, and the
//! investigation completes without running the recorded tool call again. Skips, saying why,
//! without `AURORA_PROMETHEUS`, `AURORA_ALERTMANAGER` and `AURORA_NODE_EXPORTER`.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aurora_testkit::llm::{ScriptedLlm, ScriptedTurn};
use aurora_testkit::peers::{PrometheusBinaries, PrometheusStack, WebhookReceiver, free_port};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);
const EMAIL: &str = "oncall@example.com";

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(data: &Path) -> Self {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_aurora"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("AURORA__DATA_DIR", data)
            .env_remove("AURORA_CONFIG")
            .env("AURORA__LOG__LEVEL", "warn")
            // A killed worker's job is taken again once its lease runs out.
            .env("AURORA__WORKERS__LEASE", "2s")
            .env("AURORA__WORKERS__POLL_INTERVAL", "200ms")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aurora serve");
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn ready(&self) {
        let started = Instant::now();
        while reqwest::get(format!("{}/readyz", self.url)).await.is_err() {
            assert!(started.elapsed() < WAIT, "aurora serve did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli(data: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aurora"))
        .args(args)
        .env("AURORA__DATA_DIR", data)
        .env_remove("AURORA_CONFIG")
        .env("AURORA__LOG__LEVEL", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "aurora {args:?} failed");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

async fn call(method: reqwest::Method, url: &str, token: &str, body: Option<Value>) -> Value {
    let client = reqwest::Client::new();
    let mut request = client.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{url}: {status} {body}");
    body
}

#[tokio::test]
async fn a_killed_worker_resumes_the_investigation_without_repeating_its_tool_call() {
    let binaries = match PrometheusBinaries::from_env() {
        Ok(binaries) => binaries,
        Err(why) => {
            eprintln!("skipping the crash-resume test: {why}");
            return;
        }
    };
    let report = json!({
        "summary": "aurora_test_condition went above zero on checkout.",
        "root_cause": "checkout",
        "confidence": "inconclusive",
        "evidence": [],
        "next_steps": ["Set the condition back to zero."]
    });
    let final_answer = format!("```json\n{report}\n```");
    let llm = ScriptedLlm::start([
        ScriptedTurn::tool_call(
            "prometheus_query",
            json!({"query": "aurora_test_condition"}),
        ),
        // The process is killed while this answer is pending.
        ScriptedTurn::text(final_answer.clone()).delayed(Duration::from_secs(30)),
        ScriptedTurn::text(final_answer),
    ])
    .await;

    let data = tempfile::tempdir().unwrap();
    let data = data.path();
    cli(
        data,
        &[
            "admin",
            "create-user",
            "--email",
            EMAIL,
            "--role",
            "admin",
            "--password-stdin",
        ],
        Some("correct horse battery staple\n"),
    );
    let token = cli(
        data,
        &["admin", "create-token", "--email", EMAIL, "--name", "t"],
        None,
    );
    let mut server = Server::start(data);
    server.ready().await;
    let api = |path: &str| format!("{}/api/v1{path}", server.url);

    let source = call(
        reqwest::Method::POST,
        &api("/sources"),
        &token,
        Some(json!({"kind": "alertmanager", "name": "am"})),
    )
    .await;
    let stack = PrometheusStack::start(
        &binaries,
        &WebhookReceiver {
            url: format!(
                "{}/api/v1/webhooks/{}",
                server.url,
                source["id"].as_str().unwrap()
            ),
            bearer: source["secret"].as_str().unwrap().to_owned(),
        },
    )
    .await;
    call(
        reqwest::Method::POST,
        &api("/connectors"),
        &token,
        Some(json!({"kind": "prometheus", "name": "prom", "config": {"url": stack.prometheus_url()}})),
    )
    .await;
    call(
        reqwest::Method::PUT,
        &api("/settings/llm"),
        &token,
        Some(json!({
            "provider": "openai_compatible", "model": "scripted",
            "base_url": llm.base_url(), "api_key": ScriptedLlm::API_KEY
        })),
    )
    .await;

    stack.set_condition(1.0);
    // Wait until the tool call's result is recorded and the model is asked again.
    let started = Instant::now();
    let investigation = loop {
        let list = call(
            reqwest::Method::GET,
            &api("/incidents?limit=5"),
            &token,
            None,
        )
        .await;
        if let Some(incident) = list["incidents"][0]["id"].as_str() {
            let found = call(
                reqwest::Method::GET,
                &api(&format!("/incidents/{incident}/investigations")),
                &token,
                None,
            )
            .await;
            if let Some(id) = found[0]["id"].as_str()
                && llm.requests().len() >= 2
            {
                break id.to_owned();
            }
        }
        assert!(
            started.elapsed() < WAIT,
            "no investigation reached its second model turn\n{}",
            stack.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // SIGKILL mid-investigation, then the same data directory again.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let server = Server::start(data);
    server.ready().await;
    let api = |path: &str| format!("{}/api/v1{path}", server.url);

    let started = Instant::now();
    let done = loop {
        let inv = call(
            reqwest::Method::GET,
            &api(&format!("/investigations/{investigation}")),
            &token,
            None,
        )
        .await;
        if inv["status"] == "completed" || inv["status"] == "failed" {
            break inv;
        }
        assert!(
            started.elapsed() < WAIT,
            "the investigation did not resume: {inv}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["report"]["method"], "agent", "{done}");

    let steps = call(
        reqwest::Method::GET,
        &api(&format!("/investigations/{investigation}/steps")),
        &token,
        None,
    )
    .await;
    let steps = steps.as_array().cloned().unwrap();
    let tool_calls: Vec<&Value> = steps
        .iter()
        .filter(|s| s["kind"] == "tool_call" && s["payload"]["tool"] == "prometheus_query")
        .collect();
    assert_eq!(
        tool_calls.len(),
        1,
        "the tool call is recorded once: {steps:?}"
    );
    let results = steps
        .iter()
        .filter(|s| {
            s["kind"] == "tool_result"
                && s["payload"]["call_id"] == tool_calls[0]["payload"]["call_id"]
        })
        .count();
    assert_eq!(results, 1, "and run once");
    let evidence = steps
        .iter()
        .find(|s| s["kind"] == "analysis")
        .expect("the evidence pass ran");
    assert!(
        evidence["payload"]["sources"][0]["series"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "the Prometheus connector returned series: {evidence}"
    );
    assert_eq!(
        llm.requests().len(),
        3,
        "the model turn in flight at the kill is asked again, the recorded one is not"
    );
}
