//! Chat over the WebSocket protocol (`docs/chat-protocol.md`), driven by the scripted LLM:
//! streaming, tool calls, reconnect and resume, stop, sessions of another organisation, bad
//! frames and floods, persistence across a restart, and the REST side of sessions.

use std::time::{Duration, Instant};

use aurora_core::model::Role;
use aurora_testkit::llm::{ScriptedLlm, ScriptedTurn};
use aurora_testkit::peers::{Alertmanager, alertmanager_from_env};
use aurora_testkit::{TestApp, client, spawn_app, spawn_app_with};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header;

const WAIT: Duration = Duration::from_secs(20);

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One chat connection.
struct Ws {
    stream: Stream,
}

impl Ws {
    async fn connect(app: &TestApp, token: &str) -> Self {
        let url = format!("ws://{}/api/v1/chat/ws", app.addr);
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        let (stream, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("WebSocket handshake");
        Self { stream }
    }

    async fn send(&mut self, message: Value) {
        self.send_raw(Message::text(message.to_string())).await;
    }

    async fn send_raw(&mut self, message: Message) {
        self.stream.send(message).await.expect("send a frame");
    }

    /// The next JSON message; fails the test after [`WAIT`].
    async fn next(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("a message within the wait")
                .expect("the connection is open")
                .expect("a frame");
            match frame {
                Message::Text(text) => return serde_json::from_str(&text).unwrap(),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// Messages up to and including the first of `kind`.
    async fn until(&mut self, kind: &str) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let message = self.next().await;
            let done = message["type"] == kind;
            seen.push(message);
            if done {
                return seen;
            }
        }
    }

    /// Creates a session in `mode` and returns its id.
    async fn create(&mut self, mode: &str) -> String {
        self.send(json!({"type": "create", "mode": mode})).await;
        let session = self.next().await;
        assert_eq!(session["type"], "session", "{session}");
        assert_eq!(session["running"], false);
        session["session"]["id"].as_str().unwrap().to_owned()
    }
}

fn of_type<'a>(messages: &'a [Value], kind: &str) -> Vec<&'a Value> {
    messages.iter().filter(|m| m["type"] == kind).collect()
}

/// The durable seqs among `messages`, in order.
fn durable_seqs(messages: &[Value]) -> Vec<u64> {
    messages
        .iter()
        .filter(|m| m.get("at").is_some())
        .map(|m| m["seq"].as_u64().unwrap())
        .collect()
}

/// An app with an admin whose token is returned, chatting with `llm`.
async fn app_with_model(llm: &ScriptedLlm) -> (TestApp, String) {
    let app = spawn_app().await;
    let token = setup(&app, llm).await;
    (app, token)
}

async fn setup(app: &TestApp, llm: &ScriptedLlm) -> String {
    let admin = app.create_admin().await;
    let token = app.token_for(&admin).await;
    put_llm(app, &token, llm).await;
    token
}

async fn put_llm(app: &TestApp, token: &str, llm: &ScriptedLlm) {
    let response = client()
        .put(app.url("/api/v1/settings/llm"))
        .bearer_auth(token)
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

async fn get_json(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let response = client()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_answer_streams_as_tokens_and_is_recorded() {
    let answer = "Checkout is slow because the payments pool is exhausted.";
    let llm = ScriptedLlm::start([ScriptedTurn::text(answer)]).await;
    let (app, token) = app_with_model(&llm).await;
    let mut ws = Ws::connect(&app, &token).await;
    let id = ws.create("ask").await;

    ws.send(json!({"type": "ask", "content": "why is checkout slow since 14:00?"}))
        .await;
    let messages = ws.until("turn_end").await;

    let user = of_type(&messages, "user");
    assert_eq!(user.len(), 1);
    assert_eq!(user[0]["seq"], 1);
    assert_eq!(user[0]["content"], "why is checkout slow since 14:00?");
    assert_eq!(user[0]["by"], "Ada Admin");
    // The first question names the session.
    let renamed = of_type(&messages, "session");
    assert_eq!(
        renamed[0]["session"]["title"],
        "why is checkout slow since 14:00?"
    );
    // The answer arrived in pieces, each marked with the seq the answer got.
    let tokens = of_type(&messages, "token");
    assert!(tokens.len() > 1, "streamed in pieces: {messages:?}");
    assert!(tokens.iter().all(|t| t["seq"] == 2));
    let streamed: String = tokens.iter().map(|t| t["text"].as_str().unwrap()).collect();
    assert_eq!(streamed, answer);
    let assistant = of_type(&messages, "assistant");
    assert_eq!(assistant.len(), 1);
    assert_eq!(assistant[0]["seq"], 2);
    assert_eq!(assistant[0]["content"], answer);
    assert_eq!(assistant[0]["usage"]["input_tokens"], 100);
    let end = messages.last().unwrap();
    assert_eq!(end["seq"], 3);
    assert_eq!(end["outcome"], "answered");
    assert_eq!(durable_seqs(&messages), [1, 2, 3]);

    // The same conversation over REST, and the model saw the question.
    let (status, recorded) = get_json(
        &app,
        &token,
        &format!("/api/v1/chat/sessions/{id}/messages"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(durable_seqs(recorded.as_array().unwrap()), [1, 2, 3]);
    let (_, session) = get_json(&app, &token, &format!("/api/v1/chat/sessions/{id}")).await;
    assert_eq!(session["usage"]["output_tokens"], 20);
    assert_eq!(session["running"], false);
    let request = &llm.requests()[0].body;
    assert_eq!(request["stream"], true);
    let last = request["messages"].as_array().unwrap().last().unwrap();
    assert_eq!(last["content"], "why is checkout slow since 14:00?");
    // Chat investigations are not listed as incident investigations.
    let (_, list) = get_json(&app, &token, "/api/v1/chat/sessions").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_tool_call_shows_its_card_and_ask_mode_offers_no_mutating_tool() {
    let llm = ScriptedLlm::start([
        ScriptedTurn::tool_call("search_knowledge", json!({"query": "checkout latency"})),
        ScriptedTurn::text("Nothing in the knowledge base yet."),
    ])
    .await;
    let (app, token) = app_with_model(&llm).await;
    let mut ws = Ws::connect(&app, &token).await;
    ws.create("ask").await;
    ws.send(json!({"type": "ask", "content": "any runbook for checkout latency?"}))
        .await;
    let messages = ws.until("turn_end").await;

    let call = of_type(&messages, "tool_call");
    assert_eq!(call.len(), 1);
    assert_eq!(call[0]["tool"], "search_knowledge");
    assert_eq!(call[0]["arguments"]["query"], "checkout latency");
    assert_eq!(call[0]["mutating"], false);
    let result = of_type(&messages, "tool_result");
    assert_eq!(result.len(), 1);
    assert_eq!(result[0]["call_id"], call[0]["call_id"]);
    assert_eq!(result[0]["tool"], "search_knowledge");
    assert!(result[0]["duration_ms"].is_u64());
    assert!(result[0]["output"].is_object(), "{}", result[0]);
    assert_eq!(messages.last().unwrap()["outcome"], "answered");
    assert_eq!(durable_seqs(&messages), [1, 2, 3, 4, 5, 6]);

    // The model got the result, and in ask mode only read-only tools were offered.
    let requests = llm.requests();
    assert_eq!(requests.len(), 2);
    let tools: Vec<&str> = requests[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert!(tools.contains(&"search_knowledge"), "{tools:?}");
    let tool_message = requests[1].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("the tool result went back to the model");
    assert!(
        tool_message["content"]
            .as_str()
            .unwrap()
            .contains("\"step\":4")
    );
}

#[tokio::test]
async fn a_client_that_reconnects_resumes_without_loss_or_repetition() {
    let answer = "The deploy at 13:58 changed the pool size from 50 to 5.";
    let llm = ScriptedLlm::start([
        ScriptedTurn::text(answer).paced(Duration::from_millis(300)),
        ScriptedTurn::text("Roll back the deploy."),
    ])
    .await;
    let (app, token) = app_with_model(&llm).await;
    let mut first = Ws::connect(&app, &token).await;
    let id = first.create("ask").await;
    first
        .send(json!({"type": "ask", "content": "what changed before the incident?"}))
        .await;
    // Read until the answer is streaming, then drop the connection mid-answer.
    let mut seen = Vec::new();
    loop {
        let message = first.next().await;
        let streaming = message["type"] == "token";
        seen.push(message);
        if streaming {
            break;
        }
    }
    let last_durable = *durable_seqs(&seen).last().unwrap();
    assert_eq!(last_durable, 1);
    drop(first);

    // Back mid-answer: the session, then what streamed so far as one partial, then the rest.
    let mut second = Ws::connect(&app, &token).await;
    second
        .send(json!({"type": "open", "session": id, "after": last_durable}))
        .await;
    let resumed = second.until("turn_end").await;
    assert_eq!(resumed[0]["type"], "session");
    assert_eq!(resumed[0]["running"], true);
    assert!(
        of_type(&resumed, "user").is_empty(),
        "no repeat: {resumed:?}"
    );
    let partial = of_type(&resumed, "partial");
    assert_eq!(partial.len(), 1, "{resumed:?}");
    assert_eq!(partial[0]["seq"], 2);
    let mut text = partial[0]["text"].as_str().unwrap().to_owned();
    for token in of_type(&resumed, "token") {
        text.push_str(token["text"].as_str().unwrap());
    }
    assert_eq!(text, answer, "partial + tokens make the whole answer");
    assert_eq!(durable_seqs(&resumed), [2, 3]);

    // A reconnect after the turn gets exactly the recorded messages it missed.
    let mut third = Ws::connect(&app, &token).await;
    third
        .send(json!({"type": "open", "session": id, "after": 2}))
        .await;
    let session = third.next().await;
    assert_eq!(session["running"], false);
    let end = third.next().await;
    assert_eq!(
        (end["type"].as_str(), end["seq"].as_u64()),
        (Some("turn_end"), Some(3))
    );
    third.send(json!({"type": "ping"})).await;
    assert_eq!(third.next().await["type"], "pong", "nothing else was sent");

    // Two connections on one session both see the next turn, once each.
    let mut fourth = Ws::connect(&app, &token).await;
    fourth
        .send(json!({"type": "open", "session": id, "after": 3}))
        .await;
    assert_eq!(fourth.next().await["type"], "session");
    third
        .send(json!({"type": "ask", "content": "what should we do?"}))
        .await;
    let a = third.until("turn_end").await;
    let b = fourth.until("turn_end").await;
    assert_eq!(durable_seqs(&a), [4, 5, 6]);
    assert_eq!(durable_seqs(&b), [4, 5, 6]);
}

#[tokio::test]
async fn stop_ends_the_running_turn_and_the_session_takes_the_next_question() {
    let llm = ScriptedLlm::start([
        ScriptedTurn::text("This answer never arrives.").delayed(Duration::from_secs(60)),
        ScriptedTurn::text("Second answer."),
    ])
    .await;
    let (app, token) = app_with_model(&llm).await;
    let mut ws = Ws::connect(&app, &token).await;
    let id = ws.create("ask").await;
    ws.send(json!({"type": "ask", "content": "first question"}))
        .await;
    assert_eq!(ws.next().await["type"], "user");
    // While it runs, another question is refused, and REST says it runs.
    ws.send(json!({"type": "ask", "content": "impatient question"}))
        .await;
    let busy = ws.until("error").await;
    assert_eq!(busy.last().unwrap()["code"], "busy");
    let (_, session) = get_json(&app, &token, &format!("/api/v1/chat/sessions/{id}")).await;
    assert_eq!(session["running"], true);

    // Stop while the model is being asked (the script answers in arrival order).
    let waiting = Instant::now();
    while llm.requests().is_empty() {
        assert!(waiting.elapsed() < WAIT, "the model was never asked");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    ws.send(json!({"type": "stop"})).await;
    let end = ws.until("turn_end").await;
    assert_eq!(end.last().unwrap()["outcome"], "stopped");
    assert!(started.elapsed() < Duration::from_secs(10));

    ws.send(json!({"type": "ask", "content": "second question"}))
        .await;
    let second = ws.until("turn_end").await;
    assert_eq!(
        of_type(&second, "assistant")[0]["content"],
        "Second answer."
    );
    assert_eq!(second.last().unwrap()["outcome"], "answered");
}

#[tokio::test]
async fn another_organisations_session_is_refused() {
    let llm = ScriptedLlm::start([ScriptedTurn::text("Private answer.")]).await;
    let (app, token) = app_with_model(&llm).await;
    let mut ws = Ws::connect(&app, &token).await;
    let id = ws.create("ask").await;
    ws.send(json!({"type": "ask", "content": "a private question"}))
        .await;
    ws.until("turn_end").await;

    let other = app.create_org_admin("Other", "other@example.com").await;
    let other_token = app.token_for(&other).await;
    let mut intruder = Ws::connect(&app, &other_token).await;
    intruder
        .send(json!({"type": "open", "session": id, "after": 0}))
        .await;
    let refused = intruder.next().await;
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["code"], "not_found");
    intruder
        .send(json!({"type": "ask", "content": "let me in"}))
        .await;
    assert_eq!(intruder.next().await["code"], "no_session");
    intruder.send(json!({"type": "ping"})).await;
    assert_eq!(
        intruder.next().await["type"],
        "pong",
        "the connection goes on"
    );

    for path in [
        format!("/api/v1/chat/sessions/{id}"),
        format!("/api/v1/chat/sessions/{id}/messages"),
    ] {
        let (status, body) = get_json(&app, &other_token, &path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"]["code"], "chat_session_not_found");
    }
    let (_, list) = get_json(&app, &other_token, "/api/v1/chat/sessions").await;
    assert_eq!(list, json!([]));
    let deleted = client()
        .delete(app.url(&format!("/api/v1/chat/sessions/{id}")))
        .bearer_auth(&other_token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 404);
    // Still there for its owner.
    let (status, _) = get_json(&app, &token, &format!("/api/v1/chat/sessions/{id}")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn bad_frames_and_floods_get_protocol_errors_and_nothing_else_breaks() {
    let llm = ScriptedLlm::start([ScriptedTurn::text("Still answering.")]).await;
    let (app, token) = app_with_model(&llm).await;
    let mut bystander = Ws::connect(&app, &token).await;
    bystander.create("ask").await;

    let mut ws = Ws::connect(&app, &token).await;
    let cases: Vec<(Message, &str)> = vec![
        (Message::text("{not json"), "bad_frame"),
        (Message::text("[1, 2, 3]"), "bad_frame"),
        (Message::text(r#"{"type": "dance"}"#), "unknown_type"),
        (
            Message::text(r#"{"type": "open", "session": "not-an-id"}"#),
            "invalid",
        ),
        (
            Message::text(r#"{"type": "ask", "content": "x", "extra": 1}"#),
            "invalid",
        ),
        (Message::text(r#"{"type": "stop", "now": true}"#), "invalid"),
        (Message::binary(vec![0u8, 1, 2]), "bad_frame"),
        (
            Message::text(format!(
                r#"{{"type":"ask","content":"{}"}}"#,
                "a".repeat(70_000)
            )),
            "frame_too_large",
        ),
        (
            Message::text(r#"{"type": "ask", "content": "hello?"}"#),
            "no_session",
        ),
        (Message::text(r#"{"type": "stop"}"#), "no_session"),
    ];
    for (frame, code) in cases {
        ws.send_raw(frame.clone()).await;
        let error = ws.next().await;
        assert_eq!(error["type"], "error", "{frame:?}");
        assert_eq!(error["code"], code, "{frame:?}: {error}");
        assert!(!error["message"].as_str().unwrap().is_empty());
    }
    // An empty question, once attached.
    ws.create("ask").await;
    ws.send(json!({"type": "ask", "content": "   "})).await;
    assert_eq!(ws.next().await["code"], "invalid");

    // A flood, once the limiter has refilled: everything past the burst of 20 is dropped
    // with rate_limited.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for _ in 0..60 {
        ws.send(json!({"type": "ping"})).await;
    }
    let mut pongs = 0;
    let mut limited = 0;
    for _ in 0..60 {
        match ws.next().await["type"].as_str() {
            Some("pong") => pongs += 1,
            Some("error") => limited += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(
        limited > 0 && pongs >= 20,
        "pongs {pongs}, limited {limited}"
    );
    // After a pause the connection works again, and another session was never affected.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ws.send(json!({"type": "ping"})).await;
    assert_eq!(ws.next().await["type"], "pong");
    bystander
        .send(json!({"type": "ask", "content": "are you there?"}))
        .await;
    let answer = bystander.until("turn_end").await;
    assert_eq!(answer.last().unwrap()["outcome"], "answered");

    // A message over the wire limit closes only that connection.
    ws.send_raw(Message::text("x".repeat(2 * 1024 * 1024)))
        .await;
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match ws.stream.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "an oversize message closes the connection");
    bystander.send(json!({"type": "ping"})).await;
    assert_eq!(bystander.next().await["type"], "pong");
}

#[tokio::test]
async fn viewers_read_sessions_but_cannot_ask_and_cookies_need_this_origin() {
    let llm = ScriptedLlm::start([ScriptedTurn::text("An answer.")]).await;
    let (app, token) = app_with_model(&llm).await;
    let mut ws = Ws::connect(&app, &token).await;
    let id = ws.create("ask").await;
    ws.send(json!({"type": "ask", "content": "a question"}))
        .await;
    ws.until("turn_end").await;

    let admin = app.accounts.token_principal(&token).await.unwrap().user;
    let viewer = app
        .create_user(&admin, "viewer@example.com", Role::Viewer)
        .await;
    let viewer_token = app.token_for(&viewer).await;
    let mut read_only = Ws::connect(&app, &viewer_token).await;
    read_only
        .send(json!({"type": "open", "session": id, "after": 0}))
        .await;
    let history = read_only.until("turn_end").await;
    assert_eq!(durable_seqs(&history), [1, 2, 3]);
    read_only
        .send(json!({"type": "ask", "content": "may I?"}))
        .await;
    let refused = read_only.next().await;
    assert_eq!(refused["code"], "forbidden");

    // A browser page of another site cannot use the session cookie for a socket.
    let browser = client();
    app.login(
        &browser,
        "viewer@example.com",
        aurora_testkit::ADMIN_PASSWORD,
    )
    .await;
    let upgrade = |origin: &'static str| {
        browser
            .get(app.url("/api/v1/chat/ws"))
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("origin", origin)
            .send()
    };
    assert_eq!(upgrade("https://evil.example").await.unwrap().status(), 403);
    let own = app.address.clone();
    let own: &'static str = Box::leak(own.into_boxed_str());
    assert_eq!(upgrade(own).await.unwrap().status(), 101);
}

#[tokio::test]
async fn sessions_survive_a_restart_and_the_model_sees_the_earlier_conversation() {
    let llm = ScriptedLlm::start([
        ScriptedTurn::text("The payments pool is exhausted."),
        ScriptedTurn::text("Raise the pool size back to 50."),
    ])
    .await;
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_owned();
    let app = spawn_app_with(|s| s.data_dir = dir.clone()).await;
    let token = setup(&app, &llm).await;
    let mut ws = Ws::connect(&app, &token).await;
    let id = ws.create("ask").await;
    ws.send(json!({"type": "ask", "content": "why is checkout failing?"}))
        .await;
    ws.until("turn_end").await;
    let rename = client()
        .patch(app.url(&format!("/api/v1/chat/sessions/{id}")))
        .bearer_auth(&token)
        .json(&json!({"title": "Checkout failures", "mode": "agent"}))
        .send()
        .await
        .unwrap();
    assert_eq!(rename.status(), 200);
    let renamed = ws.next().await;
    assert_eq!(renamed["type"], "session");
    assert_eq!(renamed["session"]["title"], "Checkout failures");
    drop(ws);
    // The same data directory, and the same database when the tests run on PostgreSQL.
    let database = app.settings.database.url.clone();
    app.stop().await.unwrap();

    let app = spawn_app_with(|s| {
        s.data_dir = dir.clone();
        s.database.url = database.clone();
    })
    .await;
    let mut ws = Ws::connect(&app, &token).await;
    ws.send(json!({"type": "open", "session": id, "after": 0}))
        .await;
    let history = ws.until("turn_end").await;
    assert_eq!(history[0]["session"]["title"], "Checkout failures");
    assert_eq!(history[0]["session"]["mode"], "agent");
    assert_eq!(durable_seqs(&history), [1, 2, 3]);
    ws.send(json!({"type": "ask", "content": "what do we do?"}))
        .await;
    let next = ws.until("turn_end").await;
    assert_eq!(durable_seqs(&next), [4, 5, 6]);
    let request = &llm.requests()[1].body;
    let contents: Vec<&str> = request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert!(
        contents.contains(&"why is checkout failing?"),
        "{contents:?}"
    );
    assert!(contents.contains(&"The payments pool is exhausted."));
    assert_eq!(*contents.last().unwrap(), "what do we do?");

    let deleted = client()
        .delete(app.url(&format!("/api/v1/chat/sessions/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let (status, _) = get_json(&app, &token, &format!("/api/v1/chat/sessions/{id}")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_session_about_an_incident_gives_the_model_the_incident() {
    let llm = ScriptedLlm::start([ScriptedTurn::text("It started with the deploy.")]).await;
    let (app, token) = app_with_model(&llm).await;
    let incident = crate::investigations::open_incident(&app, &token)
        .await
        .to_string();
    let created = client()
        .post(app.url("/api/v1/chat/sessions"))
        .bearer_auth(&token)
        .json(&json!({"incident_id": incident}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let session: Value = created.json().await.unwrap();
    assert_eq!(session["incident_id"], incident.as_str());
    let id = session["id"].as_str().unwrap();

    let asked = client()
        .post(app.url(&format!("/api/v1/chat/sessions/{id}/messages")))
        .bearer_auth(&token)
        .json(&json!({"content": "how did it start?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 202);
    let started = Instant::now();
    loop {
        let (_, messages) = get_json(
            &app,
            &token,
            &format!("/api/v1/chat/sessions/{id}/messages"),
        )
        .await;
        if messages
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["type"] == "turn_end")
        {
            break;
        }
        assert!(started.elapsed() < WAIT, "no answer: {messages}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let system = llm.requests()[0].body["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(system.contains("InstanceDown"), "{system}");

    // A bad incident and a bad mode are refused with what to fix.
    let bad = client()
        .post(app.url("/api/v1/chat/sessions"))
        .bearer_auth(&token)
        .json(&json!({"mode": "yolo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("ask, agent"));
}

#[tokio::test]
async fn a_mutating_call_runs_only_after_approval_and_a_rejection_reaches_the_model() {
    let binary = match alertmanager_from_env() {
        Ok(binary) => binary,
        Err(why) => {
            eprintln!("skipping the approval round trip: {why}");
            return;
        }
    };
    let am = Alertmanager::start(&binary).await;
    let silence = json!({
        "matchers": [{"name": "alertname", "value": "CheckoutLatencyHigh"}],
        "duration": "1h",
        "comment": "rollback in progress"
    });
    let llm = ScriptedLlm::start([
        ScriptedTurn::TextThenTools(
            "I will silence the alert.".into(),
            vec![("alertmanager_create_silence".into(), silence.clone())],
        ),
        ScriptedTurn::text("Silenced for an hour."),
        ScriptedTurn::tool_call("alertmanager_create_silence", silence.clone()),
        ScriptedTurn::text("Understood; I will not silence it."),
    ])
    .await;
    let (app, token) = app_with_model(&llm).await;
    let connector = client()
        .post(app.url("/api/v1/connectors"))
        .bearer_auth(&token)
        .json(&json!({"kind": "alertmanager", "name": "am", "config": {"url": am.url()}}))
        .send()
        .await
        .unwrap();
    assert_eq!(connector.status(), 201, "{:?}", connector.text().await);

    let mut ws = Ws::connect(&app, &token).await;
    ws.create("agent").await;
    ws.send(json!({"type": "ask", "content": "silence the checkout latency alert for an hour"}))
        .await;
    let asked = ws.until("approval").await;
    let call = of_type(&asked, "tool_call")[0].clone();
    assert_eq!(call["tool"], "alertmanager_create_silence");
    assert_eq!(call["mutating"], true);
    let approval = asked.last().unwrap().clone();
    assert_eq!(approval["status"], "pending");
    assert_eq!(approval["call_seq"], call["seq"]);
    assert_eq!(approval["tool"], "alertmanager_create_silence");
    assert_eq!(
        approval["arguments"], silence,
        "the card shows exactly what will run"
    );
    let approval_id = approval["approval_id"].as_str().unwrap().to_owned();
    // Nothing ran yet; the approval is also listed for the REST API.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(am.silences().await, json!([]), "{}", am.logs());
    let (_, pending) = get_json(&app, &token, "/api/v1/approvals?status=pending").await;
    assert_eq!(pending[0]["id"], approval_id.as_str());

    ws.send(json!({"type": "approve", "approval": approval_id}))
        .await;
    let done = ws.until("turn_end").await;
    let decided = of_type(&done, "approval");
    assert_eq!(decided.len(), 1);
    assert_eq!(decided[0]["status"], "approved");
    assert_eq!(decided[0]["decided_by"], "Ada Admin");
    let result = of_type(&done, "tool_result")[0].clone();
    let silence_id = result["output"]["content"]["silence_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{result}"))
        .to_owned();
    let silences = am.silences().await;
    assert_eq!(silences.as_array().unwrap().len(), 1, "{silences}");
    assert_eq!(silences[0]["id"], silence_id.as_str());
    assert_eq!(silences[0]["comment"], "rollback in progress");
    assert_eq!(done.last().unwrap()["outcome"], "answered");
    // Deciding twice is refused.
    ws.send(json!({"type": "approve", "approval": approval_id}))
        .await;
    assert_eq!(ws.next().await["code"], "conflict");

    // The second time, a person says no: the call does not run and the model is told why.
    ws.send(json!({"type": "ask", "content": "and silence it again"}))
        .await;
    let asked = ws.until("approval").await;
    let second = asked.last().unwrap()["approval_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ws.send(json!({"type": "reject", "approval": second, "reason": "not during the review"}))
        .await;
    let done = ws.until("turn_end").await;
    assert_eq!(of_type(&done, "approval")[0]["status"], "rejected");
    let error = of_type(&done, "tool_result")[0]["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(error, "rejected by Ada Admin: not during the review");
    assert_eq!(am.silences().await.as_array().unwrap().len(), 1);
    let told = llm.requests()[3].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .any(|m| {
            m["content"]
                .as_str()
                .unwrap()
                .contains("not during the review")
        });
    assert!(told, "the rejection reached the model");

    // Both decisions are in the audit log, with who and when.
    let (status, audit) = get_json(&app, &token, "/api/v1/audit").await;
    assert_eq!(status, 200, "{audit}");
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["approval.rejected", "approval.approved"]);
    assert_eq!(audit[1]["actor_name"], "Ada Admin");
    assert_eq!(audit[1]["details"]["tool"], "alertmanager_create_silence");
    assert_eq!(audit[1]["target"], format!("approval:{approval_id}"));
    assert!(audit[1]["at"].is_string());

    // An approval of another session cannot be decided from this one.
    let mut elsewhere = Ws::connect(&app, &token).await;
    elsewhere.create("agent").await;
    elsewhere
        .send(json!({"type": "approve", "approval": approval_id}))
        .await;
    assert_eq!(elsewhere.next().await["code"], "not_found");
}

#[tokio::test]
async fn an_answered_conversation_is_remembered_in_the_knowledge_base() {
    let llm = ScriptedLlm::start([
        ScriptedTurn::text("The payments connection pool was exhausted after the deploy."),
        ScriptedTurn::text("Roll back to release 41 and raise the pool size."),
    ])
    .await;
    let app = spawn_app_with(|s| s.workers.concurrency = 1).await;
    let token = setup(&app, &llm).await;
    let mut ws = Ws::connect(&app, &token).await;
    let id = ws.create("ask").await;
    for question in ["why did checkout fail?", "what do we do about it?"] {
        ws.send(json!({"type": "ask", "content": question})).await;
        ws.until("turn_end").await;
    }
    // One document per conversation, replaced as it goes on, indexed by the workers: the
    // whole conversation is found, and no earlier version is left.
    let started = Instant::now();
    let document = loop {
        let (_, list) = get_json(&app, &token, "/api/v1/knowledge/documents?kind=chat").await;
        let found: Value = client()
            .post(app.url("/api/v1/knowledge/search"))
            .bearer_auth(&token)
            .json(&json!({"query": "release 41 pool size", "kinds": ["chat"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let documents = list.as_array().cloned().unwrap_or_default();
        if documents.len() == 1
            && documents[0]["status"] == "indexed"
            && found["hits"][0]["document_id"] == documents[0]["id"]
        {
            break documents[0].clone();
        }
        assert!(started.elapsed() < WAIT, "{list}\n{found}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(document["title"], "Chat: why did checkout fail?");

    // Deleting the conversation leaves what was learnt in the knowledge base.
    let deleted = client()
        .delete(app.url(&format!("/api/v1/chat/sessions/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
}
