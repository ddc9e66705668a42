//! `bench-chat [--sessions N] [--rounds R]`: the chat WebSocket under N concurrent sessions of
//! the release `aurora serve` (fresh data directory, SQLite), answered by a scripted
//! OpenAI-compatible model that this process serves.
//!
//! - Memory: the server's RSS (`/proc/PID/status` VmRSS) before the N connections open and
//!   once all N are attached (`create`) and idle; the difference divided by N is the memory of
//!   one idle session.
//! - Latency: every session asks, concurrently, a question carrying a nonce of its own; the
//!   model streams an answer carrying that nonce in several chunks and records the instant it
//!   hands its first content chunk to the connection. The added latency of a session is the
//!   instant its client receives the first `token` minus that instant: one process, one
//!   monotonic clock.
//! - Cross-talk: each session must receive only its own nonce, in its tokens, its question and
//!   its answer, and exactly one `assistant` and one `turn_end` per question.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::{DataDir, Result, admin_token, build_release, free_port, rss_mib, start, stop};
use crate::http::Conn;

const DEFAULT_SESSIONS: usize = 200;
const DEFAULT_ROUNDS: u32 = 2;
/// The time between two chunks of a streamed answer.
const CHUNK_GAP: Duration = Duration::from_millis(5);
/// The longest a session may wait for anything.
const WAIT: Duration = Duration::from_secs(120);
/// Marks a nonce in questions and answers.
const NONCE: &str = "NONCE-";

pub fn run() -> Result<()> {
    let (sessions, rounds) = options()?;
    let binary = build_release()?;
    let data = DataDir::new("bench-chat");
    let token = admin_token(&binary, &data.0)?;
    let port = free_port()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let model = runtime.block_on(Model::start())?;
    let (mut server, _) = start(&binary, &data.0, port)?;
    let outcome = configure(port, &token, &model.base_url).and_then(|()| {
        runtime.block_on(measure(port, server.id(), &token, &model, sessions, rounds))
    });
    stop(&mut server);
    runtime.shutdown_background();
    outcome
}

fn options() -> Result<(usize, u32)> {
    let mut sessions = DEFAULT_SESSIONS;
    let mut rounds = DEFAULT_ROUNDS;
    let mut args = std::env::args().skip(2);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--sessions" => {
                sessions = value
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or("--sessions takes a positive number")?;
            }
            "--rounds" => {
                rounds = value
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or("--rounds takes a positive number")?;
            }
            other => {
                return Err(format!(
                    "unknown option {other}: use --sessions N --rounds R"
                ));
            }
        }
    }
    Ok((sessions, rounds))
}

/// Points the organisation's model at the scripted one.
fn configure(port: u16, token: &str, base_url: &str) -> Result<()> {
    let body = json!({
        "provider": "openai_compatible", "model": "scripted-bench",
        "base_url": base_url, "api_key": "sk-bench"
    })
    .to_string();
    let auth = format!("Bearer {token}");
    let response = Conn::open(port)?.send(
        "PUT",
        "/api/v1/settings/llm",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )?;
    if !(200..300).contains(&response.status) {
        return Err(format!(
            "PUT /api/v1/settings/llm: {} {}",
            response.status, response.body
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The scripted model

/// An OpenAI-compatible streaming model on a loopback port, recording when it wrote the first
/// content chunk of the answer to each nonce.
struct Model {
    base_url: String,
    first_chunk: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Model {
    async fn start() -> Result<Self> {
        let first_chunk = Arc::new(Mutex::new(HashMap::new()));
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(first_chunk.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot bind the scripted model's port: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        // A chunk goes out when it is written, not when the previous one is acknowledged.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            base_url: format!("http://127.0.0.1:{port}/v1/"),
            first_chunk,
        })
    }

    fn first_chunk_at(&self, nonce: &str) -> Option<Instant> {
        self.first_chunk
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(nonce)
            .copied()
    }
}

/// The nonces in `text`: `NONCE-` and the letters, digits and dashes that follow.
fn nonces(text: &str) -> Vec<&str> {
    text.match_indices(NONCE)
        .map(|(at, _)| {
            let rest = &text[at..];
            let end = rest[NONCE.len()..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .map_or(rest.len(), |i| i + NONCE.len());
            &rest[..end]
        })
        .collect()
}

/// The nonce of the request's last user message.
fn request_nonce(body: &Value) -> Option<String> {
    let last_user = body["messages"]
        .as_array()?
        .iter()
        .rev()
        .find(|m| m["role"] == "user")?;
    let content = last_user["content"].to_string();
    nonces(&content).first().map(|n| (*n).to_owned())
}

async fn completions(
    State(first_chunk): State<Arc<Mutex<HashMap<String, Instant>>>>,
    body: Bytes,
) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let nonce = request_nonce(&request);
    let label = nonce.clone().unwrap_or_else(|| "no nonce".to_owned());
    let pieces = [
        "Answer to ".to_owned(),
        label.clone(),
        ": checkout is slow ".to_owned(),
        "because the payments ".to_owned(),
        "database is saturated (".to_owned(),
        label.clone(),
        ").".to_owned(),
    ];
    if request["stream"] != true {
        let text: String = pieces.concat();
        return (
            [(header::CONTENT_TYPE, "application/json")],
            json!({
                "id": "chatcmpl-bench", "object": "chat.completion", "created": 1_700_000_000,
                "model": "scripted-bench",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
            })
            .to_string(),
        )
            .into_response();
    }
    let chunk = |delta: Value, finish: Value| {
        let chunk = json!({
            "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": "scripted-bench",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        format!("data: {chunk}\n\n")
    };
    // (event, whether it is the first content chunk)
    let mut events: VecDeque<(String, bool)> = VecDeque::new();
    events.push_back((
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        false,
    ));
    for (i, piece) in pieces.iter().enumerate() {
        events.push_back((chunk(json!({"content": piece}), Value::Null), i == 0));
    }
    events.push_back((chunk(json!({}), json!("stop")), false));
    let usage = json!({
        "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1_700_000_000,
        "model": "scripted-bench", "choices": [],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    });
    events.push_back((format!("data: {usage}\n\n"), false));
    events.push_back(("data: [DONE]\n\n".to_owned(), false));
    let state = (events, first_chunk, nonce, false);
    let stream = futures::stream::unfold(
        state,
        |(mut events, first_chunk, nonce, mut started)| async move {
            let (event, first) = events.pop_front()?;
            if started {
                tokio::time::sleep(CHUNK_GAP).await;
            }
            started = true;
            if first && let Some(nonce) = &nonce {
                // Handed to the connection right after this: the chunk is written now.
                first_chunk
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(nonce.clone(), Instant::now());
            }
            Some((
                Ok::<_, Infallible>(Bytes::from(event)),
                (events, first_chunk, nonce, started),
            ))
        },
    );
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

// ---------------------------------------------------------------------------------------------
// The sessions

/// What one session saw of one question.
#[derive(Default)]
struct Round {
    nonce: String,
    first_token: Option<Instant>,
    tokens: usize,
    streamed: String,
    assistants: usize,
    turn_ends: usize,
    outcome: Option<String>,
    /// Messages carrying another session's nonce, or a duplicate or missing answer.
    violations: Vec<String>,
    /// `busy` refusals before the question was taken.
    busy: u32,
    error: Option<String>,
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(port: u16, token: &str) -> Result<Ws> {
    let mut request = format!("ws://127.0.0.1:{port}/api/v1/chat/ws")
        .into_client_request()
        .map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "Authorization",
        format!("Bearer {token}")
            .parse()
            .map_err(|_| "bad token header".to_owned())?,
    );
    let (ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| format!("WebSocket handshake: {e}"))?;
    Ok(ws)
}

async fn next_json(ws: &mut Ws) -> Result<Value> {
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .map_err(|_| "no message within the wait".to_owned())?
            .ok_or("the server closed the connection")?
            .map_err(|e| e.to_string())?;
        match frame {
            Message::Text(text) => {
                return serde_json::from_str(text.as_str()).map_err(|e| e.to_string());
            }
            Message::Close(_) => return Err("the server closed the connection".into()),
            _ => {}
        }
    }
}

async fn send(ws: &mut Ws, message: Value) -> Result<()> {
    ws.send(Message::text(message.to_string()))
        .await
        .map_err(|e| e.to_string())
}

/// How a session and the measurement talk.
struct Channels {
    /// The session is attached (or could not be).
    attached: mpsc::UnboundedSender<Result<()>>,
    /// The round to ask in.
    go: watch::Receiver<u32>,
    /// What a round saw.
    results: mpsc::UnboundedSender<Round>,
    /// What arrived after the last round.
    late_results: mpsc::UnboundedSender<Round>,
}

/// One session: create, report attached, then for each round ask and follow the turn.
async fn session(index: usize, port: u16, token: String, rounds: u32, channels: Channels) {
    let Channels {
        attached,
        mut go,
        results,
        late_results,
    } = channels;
    let mut ws = match connect(port, &token).await {
        Ok(ws) => ws,
        Err(err) => {
            let _ = attached.send(Err(err));
            return;
        }
    };
    let created = async {
        send(
            &mut ws,
            json!({"type": "create", "mode": "ask", "title": format!("bench {index}")}),
        )
        .await?;
        loop {
            let message = next_json(&mut ws).await?;
            match message["type"].as_str() {
                Some("session") => return Ok(()),
                Some("error") => return Err(format!("create: {message}")),
                _ => {}
            }
        }
    }
    .await;
    let failed = created.is_err();
    let _ = attached.send(created);
    if failed {
        return;
    }
    for round in 1..=rounds {
        if go.wait_for(|r| *r >= round).await.is_err() {
            return;
        }
        let nonce = format!("{NONCE}{round}-{index:05}");
        let mut seen = Round {
            nonce: nonce.clone(),
            ..Round::default()
        };
        if let Err(err) = ask(&mut ws, &nonce, &mut seen).await {
            seen.error = Some(err);
        }
        let _ = results.send(seen);
    }
    // Anything arriving after the last turn ended is cross-talk (or a duplicate).
    let mut late = Round {
        nonce: format!("{NONCE}late-{index:05}"),
        ..Round::default()
    };
    let deadline = Instant::now() + Duration::from_millis(500);
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline.into(), ws.next()).await {
        if let Message::Text(text) = frame
            && let Ok(message) = serde_json::from_str::<Value>(text.as_str())
            && matches!(
                message["type"].as_str(),
                Some("token" | "assistant" | "user" | "turn_end" | "tool_call")
            )
        {
            late.violations
                .push(format!("after its last turn: {}", text.as_str()));
        }
    }
    let _ = late_results.send(late);
    let _ = ws.close(None).await;
}

async fn ask(ws: &mut Ws, nonce: &str, seen: &mut Round) -> Result<()> {
    let question = json!({"type": "ask", "content": format!("Why is checkout slow? ({nonce})")});
    send(ws, question.clone()).await?;
    loop {
        let message = next_json(ws).await?;
        let kind = message["type"].as_str().unwrap_or_default();
        let text = match kind {
            "token" => message["text"].as_str(),
            "assistant" | "user" => message["content"].as_str(),
            _ => None,
        }
        .unwrap_or_default();
        for found in nonces(text) {
            if found != nonce {
                seen.violations
                    .push(format!("{kind} carries {found}: {message}"));
            }
        }
        match kind {
            "token" => {
                seen.first_token.get_or_insert_with(Instant::now);
                seen.tokens += 1;
                seen.streamed.push_str(text);
            }
            "user" if !text.contains(nonce) => {
                seen.violations
                    .push(format!("a question without its nonce: {message}"));
            }
            "assistant" => {
                seen.assistants += 1;
                if !text.contains(nonce) {
                    seen.violations
                        .push(format!("an answer without its nonce: {message}"));
                }
            }
            "turn_end" => {
                seen.turn_ends += 1;
                seen.outcome = message["outcome"].as_str().map(str::to_owned);
                return Ok(());
            }
            "error" if message["code"] == "busy" && seen.busy < 50 => {
                // The previous turn's end can be sent just before the session takes a new
                // question.
                seen.busy += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
                send(ws, question.clone()).await?;
            }
            "error" => return Err(format!("error: {message}")),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Measuring

async fn measure(
    port: u16,
    pid: u32,
    token: &str,
    model: &Model,
    sessions: usize,
    rounds: u32,
) -> Result<()> {
    println!(
        "chat sessions             {sessions:>10}  (concurrent WebSocket connections, one session each; SQLite; {rounds} rounds)"
    );
    warm_up(port, token).await?;
    settle(pid).await;
    one_at_a_time(port, token, model).await?;
    settle(pid).await;
    let before = rss_mib(pid)?;

    let (attached_tx, mut attached_rx) = mpsc::unbounded_channel();
    let (go_tx, go_rx) = watch::channel(0u32);
    let (results_tx, mut results_rx) = mpsc::unbounded_channel();
    let (late_tx, mut late_rx) = mpsc::unbounded_channel();
    let opening = Instant::now();
    let mut tasks = Vec::with_capacity(sessions);
    for index in 0..sessions {
        let channels = Channels {
            attached: attached_tx.clone(),
            go: go_rx.clone(),
            results: results_tx.clone(),
            late_results: late_tx.clone(),
        };
        tasks.push(tokio::spawn(session(
            index,
            port,
            token.to_owned(),
            rounds,
            channels,
        )));
    }
    drop(attached_tx);
    drop(results_tx);
    drop(late_tx);
    for _ in 0..sessions {
        match tokio::time::timeout(WAIT, attached_rx.recv()).await {
            Ok(Some(Ok(()))) => {}
            Ok(Some(Err(err))) => return Err(format!("a session could not attach: {err}")),
            _ => return Err("the sessions did not all attach in time".into()),
        }
    }
    let attach_time = opening.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_mib(pid)?;
    let per_session_kib = (after - before) * 1024.0 / sessions as f64;
    println!("RSS before the sessions   {before:>10.1} MiB  (after one warm-up question)");
    println!(
        "RSS, {sessions} attached, idle {after:>7.1} MiB  ({:.1} s to open and attach them all)",
        attach_time.as_secs_f64()
    );
    println!(
        "memory per idle session   {per_session_kib:>10.1} KiB  (target ≤ 100 KB: {})",
        verdict(per_session_kib * 1.024 <= 100.0)
    );

    let mut violations = Vec::new();
    let mut failures = Vec::new();
    let mut p99_ok = true;
    for round in 1..=rounds {
        // What the last round left to do (remembering its conversations in the knowledge
        // base) is not this round's latency.
        let settled = settle(pid).await;
        let cpu_before = cpu_ticks(pid);
        let started = Instant::now();
        let _ = go_tx.send(round);
        let mut latencies = Vec::with_capacity(sessions);
        let (mut busy, mut tokens) = (0u32, 0usize);
        for _ in 0..sessions {
            let seen = tokio::time::timeout(WAIT, results_rx.recv())
                .await
                .map_err(|_| format!("round {round}: not every session finished in time"))?
                .ok_or_else(|| format!("round {round}: a session ended early"))?;
            busy += seen.busy;
            tokens += seen.tokens;
            check(&seen, &mut violations, &mut failures);
            if let (Some(got), Some(wrote)) = (seen.first_token, model.first_chunk_at(&seen.nonce))
            {
                latencies.push(crate::common::ms(got.saturating_duration_since(wrote)));
            }
        }
        let wall = started.elapsed();
        let cpu_ms = match (cpu_before, cpu_ticks(pid)) {
            (Some(before), Some(after)) => (after.saturating_sub(before) * 10) as f64,
            _ => f64::NAN,
        };
        if latencies.is_empty() {
            return Err(format!("round {round}: no session received a token"));
        }
        latencies.sort_by(f64::total_cmp);
        let pct = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
        println!(
            "round {round}: first token, added  p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  max {:.1} ms  ({} sessions at once, {tokens} tokens, all answered in {:.2} s{}{})",
            pct(0.5),
            pct(0.95),
            pct(0.99),
            pct(1.0),
            latencies.len(),
            wall.as_secs_f64(),
            if busy > 0 {
                format!(", {busy} busy retries")
            } else {
                String::new()
            },
            if settled {
                ""
            } else {
                "; the server was still busy when it began"
            }
        );
        println!(
            "         server CPU        {:>10.1} ms per question  ({:.2} s for the round, {:.2} s wall)",
            cpu_ms / sessions as f64,
            cpu_ms / 1000.0,
            wall.as_secs_f64()
        );
        p99_ok &= pct(0.99) <= 50.0;
    }
    println!("added latency p99 target  ≤ 50 ms: {}", verdict(p99_ok));
    // The sessions' reports of what came after their last turn.
    for _ in 0..sessions {
        if let Ok(Some(late)) = tokio::time::timeout(WAIT, late_rx.recv()).await {
            violations.extend(late.violations);
        }
    }
    for task in tasks {
        let _ = task.await;
    }
    if violations.is_empty() {
        println!("cross-talk: none");
    } else {
        println!("cross-talk: {} violations", violations.len());
        for v in violations.iter().take(10) {
            println!("  {v}");
        }
    }
    for f in failures.iter().take(10) {
        println!("  failed: {f}");
    }
    if !violations.is_empty() || !failures.is_empty() {
        return Err(format!(
            "{} cross-talk violations, {} failed questions",
            violations.len(),
            failures.len()
        ));
    }
    Ok(())
}

/// The CPU time the process used so far, in clock ticks (1/100 s).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses: utime and stime are the 12th
    // and 13th of them.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Waits (at most a minute) until the server uses under a tenth of a core: `false` if it never
/// did.
async fn settle(pid: u32) -> bool {
    let cpu_ticks = || cpu_ticks(pid);
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let Some(before) = cpu_ticks() else {
            return false;
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Some(after) = cpu_ticks() else {
            return false;
        };
        // Clock ticks are 1/100 s: 5 ticks in half a second is a tenth of a core.
        if after.saturating_sub(before) <= 5 {
            return true;
        }
    }
    false
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

/// Checks one session's round: its own nonce only, one answer, one end.
fn check(seen: &Round, violations: &mut Vec<String>, failures: &mut Vec<String>) {
    violations.extend(seen.violations.iter().cloned());
    if let Some(err) = &seen.error {
        failures.push(format!("{}: {err}", seen.nonce));
        return;
    }
    if seen.assistants != 1 || seen.turn_ends != 1 {
        violations.push(format!(
            "{}: {} assistant and {} turn_end messages",
            seen.nonce, seen.assistants, seen.turn_ends
        ));
    }
    if seen.outcome.as_deref() != Some("answered") {
        failures.push(format!("{}: the turn ended {:?}", seen.nonce, seen.outcome));
    }
    if !seen.streamed.contains(&seen.nonce) {
        violations.push(format!(
            "{}: its tokens do not carry its nonce: {:?}",
            seen.nonce, seen.streamed
        ));
    }
}

/// Questions asked one after the other in one session: the latency the streaming path adds
/// when nothing else runs.
async fn one_at_a_time(port: u16, token: &str, model: &Model) -> Result<()> {
    const QUESTIONS: usize = 20;
    let mut ws = connect(port, token).await?;
    send(&mut ws, json!({"type": "create", "title": "one at a time"})).await?;
    let mut latencies = Vec::with_capacity(QUESTIONS);
    let mut busy = 0;
    for i in 0..QUESTIONS {
        let nonce = format!("{NONCE}seq-{i:05}");
        let mut seen = Round::default();
        ask(&mut ws, &nonce, &mut seen).await?;
        busy += seen.busy;
        if seen.outcome.as_deref() != Some("answered") || !seen.violations.is_empty() {
            return Err(format!(
                "a question asked alone was not answered cleanly: {:?} {:?}",
                seen.outcome, seen.violations
            ));
        }
        if let (Some(got), Some(wrote)) = (seen.first_token, model.first_chunk_at(&nonce)) {
            latencies.push(crate::common::ms(got.saturating_duration_since(wrote)));
        }
    }
    let _ = ws.close(None).await;
    if latencies.is_empty() {
        return Err("no token reached a question asked alone".into());
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "one question at a time:  first token, added  p50 {:.1} ms  max {:.1} ms  ({} questions in one session, each sent on the previous turn_end; {busy} refused as busy and sent again)",
        pct(0.5),
        pct(1.0),
        latencies.len()
    );
    Ok(())
}

/// One question before measuring, so that one-time set-up (the model client, caches) is not
/// counted as the sessions' memory or latency.
async fn warm_up(port: u16, token: &str) -> Result<()> {
    let mut ws = connect(port, token).await?;
    send(&mut ws, json!({"type": "create", "title": "warm-up"})).await?;
    let mut seen = Round::default();
    ask(&mut ws, &format!("{NONCE}warmup"), &mut seen).await?;
    if seen.outcome.as_deref() != Some("answered") {
        return Err(format!(
            "the warm-up question was not answered: {:?} (is the model configured?)",
            seen.outcome
        ));
    }
    let _ = ws.close(None).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_found_whole() {
        assert_eq!(
            nonces("a NONCE-1-00042: b (NONCE-2-00001)."),
            vec!["NONCE-1-00042", "NONCE-2-00001"]
        );
        let body = json!({"messages": [
            {"role": "system", "content": "NONCE-x"},
            {"role": "user", "content": "old NONCE-1-00001"},
            {"role": "assistant", "content": "NONCE-1-00001"},
            {"role": "user", "content": [{"type": "text", "text": "why? (NONCE-2-00001)"}]},
        ]});
        assert_eq!(request_nonce(&body).as_deref(), Some("NONCE-2-00001"));
    }
}
