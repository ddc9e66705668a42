//! `aurora chat`: a terminal client of the chat protocol (`docs/chat-protocol.md`) for a running
//! Aurora. It speaks the same [`ClientMessage`] / [`ServerMessage`] types the server does.
//!
//! - `aurora chat`: a conversation (a new session, or `--session ID` resumed with its history):
//!   each input line is a question; the answer streams as it is written, tool calls show as
//!   one-line cards, and a tool call that needs approval asks `Approve? [y/N]` on the terminal.
//!   Ctrl-C while an answer is written stops it; Ctrl-C or end of input at the prompt quits.
//!   Input may be piped: each line is a question, or the answer to an approval prompt.
//! - `aurora chat --ask QUESTION`: asks once, prints the answer and exits, with status 0 when
//!   the turn ended `answered` and 1 otherwise. An approval is asked for on the terminal when
//!   standard input is one; otherwise the call is rejected with the reason "no terminal to
//!   approve from" (there is deliberately no option to approve automatically).
//! - `aurora chat --list`: the sessions, most recently used first.
//!
//! A dropped connection is opened again and the session re-attached with `open` and the `seq`
//! of the last recorded message processed, so that nothing is shown twice or missed.

use std::collections::VecDeque;
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use aurora_core::chat::{
    ChatMode, ChatSession, ClientMessage, ProtocolErrorCode, ServerMessage, TurnOutcome,
};
use aurora_core::ids::{ApprovalId, ChatSessionId, IncidentId};
use aurora_core::investigation::ApprovalStatus;
use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use reqwest::header;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

/// The reason a one-shot question's approvals are rejected with when nobody can answer.
pub const NO_TERMINAL: &str = "no terminal to approve from";
/// How often a dropped connection is tried again before giving up.
const RECONNECT_ATTEMPTS: u32 = 10;
/// Longest tool arguments or result preview shown on a card, in characters.
const CARD_CHARS: usize = 160;
/// How often a question refused with `busy` right after a turn ended is asked again.
const BUSY_RETRIES: u32 = 20;

#[derive(clap::Args)]
pub struct Args {
    /// Aurora's address
    #[arg(
        long,
        env = "AURORA_SERVER",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    server: String,
    /// An API token (`aurora admin create-token`), sent as `Authorization: Bearer`
    #[arg(long, env = "AURORA_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Ask one question, print the answer and exit: status 0 when it was answered. Approvals
    /// are asked for on the terminal; without one they are rejected
    #[arg(long, value_name = "QUESTION", conflicts_with = "list")]
    ask: Option<String>,
    /// List the sessions and exit
    #[arg(long)]
    list: bool,
    /// Resume this session (its history is printed first)
    #[arg(long, value_name = "ID", conflicts_with_all = ["mode", "incident", "title", "list"])]
    session: Option<ChatSessionId>,
    /// For a new session: `ask` (read-only tools) or `agent` (also tools that change systems,
    /// each call after your approval)
    #[arg(long, value_parser = parse_mode)]
    mode: Option<ChatMode>,
    /// For a new session: the incident the conversation is about
    #[arg(long, value_name = "ID")]
    incident: Option<IncidentId>,
    /// For a new session: its title [default: the first question]
    #[arg(long)]
    title: Option<String>,
}

fn parse_mode(s: &str) -> Result<ChatMode, String> {
    s.parse()
        .map_err(|err: aurora_core::chat::UnknownChatMode| err.to_string())
}

/// Runs `aurora chat` on a runtime of its own: it needs no configuration file.
pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let outcome = runtime.block_on(chat(args));
    // The thread reading standard input may be blocked in a read: do not wait for it.
    runtime.shutdown_background();
    outcome
}

async fn chat(args: Args) -> anyhow::Result<()> {
    let endpoint = Endpoint::new(&args.server, args.token.clone())?;
    if args.list {
        return list(&endpoint).await;
    }
    let interrupts = interrupts();
    let one_shot = args.ask.is_some();
    // A one-shot question reads the terminal only for approvals, and only from a terminal.
    let input = if one_shot {
        Input::new(std::io::stdin().is_terminal(), false)
    } else {
        Input::new(true, true)
    };
    // Resuming a session for one question: attach after its last message, without history.
    let after = match (&args.session, one_shot) {
        (Some(id), true) => get_session(&endpoint, *id).await?.last_seq,
        _ => 0,
    };
    let socket = connect(&endpoint).await?;
    let mut client = Client::new(endpoint, socket, input, interrupts);
    let attach = match args.session {
        Some(session) => ClientMessage::Open { session, after },
        None => ClientMessage::Create {
            mode: args.mode.unwrap_or_default(),
            incident: args.incident,
            title: args.title.clone(),
        },
    };
    client.attach(attach).await?;
    match args.ask {
        Some(question) => {
            client.ask(&question).await?;
            match client.run_until_turn_end().await? {
                Ended::Turn(TurnOutcome::Answered) => Ok(()),
                Ended::Turn(outcome) => bail!("the question was not answered: the turn {outcome}"),
                Ended::Refused(why) => bail!("the question was refused: {why}"),
                Ended::Quit => bail!("interrupted"),
            }
        }
        None => {
            if let Some(session) = &client.session {
                eprintln!(
                    "session {} · {} mode · {}\ntype a question; Ctrl-C stops an answer, Ctrl-D or /quit leaves",
                    session.id, session.mode, session.title
                );
            }
            client.repl().await
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Connecting

/// Where Aurora is, and the token to show it.
struct Endpoint {
    /// The server's root URL, ending in `/` (http or https).
    base: reqwest::Url,
    token: String,
    http: reqwest::Client,
}

impl Endpoint {
    fn new(server: &str, token: Option<String>) -> anyhow::Result<Self> {
        let mut base = reqwest::Url::parse(server.trim()).map_err(|err| {
            anyhow!("--server {server:?} is not a URL ({err}); for example http://127.0.0.1:8080")
        })?;
        let scheme = match base.scheme() {
            "http" | "ws" => "http",
            "https" | "wss" => "https",
            other => bail!("--server {server:?}: use an http:// or https:// URL, not {other}://"),
        };
        if base.set_scheme(scheme).is_err() || base.host().is_none() {
            bail!(
                "--server {server:?} is not a URL of a server; for example http://127.0.0.1:8080"
            );
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        base.set_query(None);
        base.set_fragment(None);
        let token = token
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .context(
                "no API token: pass --token or set AURORA_TOKEN (create one with \
                 `aurora admin create-token` or in the web UI under Settings → API tokens)",
            )?;
        // HTTP/1.1 only: the WebSocket handshake is an HTTP/1.1 upgrade, also over TLS.
        let http = reqwest::Client::builder()
            .http1_only()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(format!("aurora-chat/{}", crate::BUILD.version))
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Self { base, token, http })
    }

    fn url(&self, path: &str) -> anyhow::Result<reqwest::Url> {
        self.base
            .join(path)
            .with_context(|| format!("cannot make a URL of {} and {path}", self.base))
    }

    /// The WebSocket URL, as a person would write it (ws:// or wss://).
    fn ws_url(&self) -> String {
        let url = format!("{}api/v1/chat/ws", self.base);
        match url.strip_prefix("https://") {
            Some(rest) => format!("wss://{rest}"),
            None => url.replacen("http://", "ws://", 1),
        }
    }

    fn unreachable(&self, err: reqwest::Error) -> anyhow::Error {
        anyhow::Error::new(err).context(format!(
            "cannot reach Aurora at {} (is `aurora serve` running there? set --server or \
             AURORA_SERVER)",
            self.base
        ))
    }

    async fn get(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        let response = self
            .http
            .get(self.url(path)?)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|err| self.unreachable(err))?;
        refused(response, path).await
    }
}

/// The response when it succeeded; otherwise an error that says why, from the API's error body.
async fn refused(response: reqwest::Response, what: &str) -> anyhow::Result<reqwest::Response> {
    let status = response.status();
    if status.is_success() || status == StatusCode::SWITCHING_PROTOCOLS {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| shorten(body.trim(), 200));
    match status {
        StatusCode::UNAUTHORIZED => bail!(
            "the server refused the API token ({status}: {message}); check --token or \
             AURORA_TOKEN"
        ),
        StatusCode::FORBIDDEN => bail!("{what}: not allowed ({status}: {message})"),
        StatusCode::NOT_FOUND if what.contains("chat/ws") => {
            bail!("{what}: {status}; this server has no chat (is --server an Aurora with chat?)")
        }
        _ => bail!("{what}: {status}: {message}"),
    }
}

type Socket = WebSocketStream<reqwest::Upgraded>;

/// Opens the chat WebSocket: an HTTP/1.1 upgrade through the same client as the REST calls,
/// so that https:// (wss) works the way the REST calls do.
async fn connect(endpoint: &Endpoint) -> anyhow::Result<Socket> {
    let key = generate_key();
    let response = endpoint
        .http
        .get(endpoint.url("api/v1/chat/ws")?)
        .bearer_auth(&endpoint.token)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_VERSION, "13")
        .header(header::SEC_WEBSOCKET_KEY, &key)
        .send()
        .await
        .map_err(|err| endpoint.unreachable(err))?;
    let response = refused(response, &endpoint.ws_url()).await?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        bail!(
            "{} answered {} instead of opening a WebSocket (is --server an Aurora with chat?)",
            endpoint.ws_url(),
            response.status()
        );
    }
    let accept = response
        .headers()
        .get(header::SEC_WEBSOCKET_ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if accept != derive_accept_key(key.as_bytes()) {
        bail!(
            "{}: the WebSocket handshake's Sec-WebSocket-Accept is wrong",
            endpoint.ws_url()
        );
    }
    let upgraded = response
        .upgrade()
        .await
        .with_context(|| format!("{}: the WebSocket upgrade failed", endpoint.ws_url()))?;
    Ok(WebSocketStream::from_raw_socket(upgraded, Role::Client, None).await)
}

/// A session as `GET /api/v1/chat/sessions` lists it.
#[derive(Deserialize)]
struct Listed {
    #[serde(flatten)]
    session: ChatSession,
    #[serde(default)]
    running: bool,
}

async fn get_session(endpoint: &Endpoint, id: ChatSessionId) -> anyhow::Result<ChatSession> {
    let listed: Listed = endpoint
        .get(&format!("api/v1/chat/sessions/{id}"))
        .await?
        .json()
        .await
        .context("the session's description is not what this client understands")?;
    Ok(listed.session)
}

/// `aurora chat --list`.
async fn list(endpoint: &Endpoint) -> anyhow::Result<()> {
    let sessions: Vec<Listed> = endpoint
        .get("api/v1/chat/sessions")
        .await?
        .json()
        .await
        .context("the session list is not what this client understands")?;
    if sessions.is_empty() {
        println!("no chat sessions yet: start one with `aurora chat`");
        return Ok(());
    }
    println!(
        "{:<36}  {:<20}  {:<5}  {:>8}  TITLE",
        "ID", "UPDATED", "MODE", "MESSAGES"
    );
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    for Listed { session, running } in sessions {
        let updated = session
            .updated_at
            .format(&format)
            .unwrap_or_else(|_| session.updated_at.to_string());
        println!(
            "{:<36}  {:<20}  {:<5}  {:>8}  {}{}",
            session.id,
            updated,
            session.mode,
            session.last_seq,
            session.title,
            if running { "  (answering)" } else { "" }
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Input

enum Line {
    Text(String),
    Eof,
}

/// Lines from standard input, read on a thread of their own once needed.
struct Input {
    /// Whether lines may be read at all.
    available: bool,
    rx: Option<mpsc::UnboundedReceiver<Line>>,
    eof: bool,
}

impl Input {
    fn new(available: bool, start: bool) -> Self {
        let mut input = Self {
            available,
            rx: None,
            eof: !available,
        };
        if start {
            input.start();
        }
        input
    }

    fn start(&mut self) {
        if self.rx.is_some() || !self.available {
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        // A plain thread: a blocked read must not keep the runtime from shutting down.
        std::thread::spawn(move || {
            let stdin = std::io::stdin();
            let mut line = String::new();
            loop {
                line.clear();
                match stdin.lock().read_line(&mut line) {
                    Ok(0) | Err(_) => {
                        let _ = tx.send(Line::Eof);
                        return;
                    }
                    Ok(_) => {
                        let text = line.trim_end_matches(['\n', '\r']).to_owned();
                        if tx.send(Line::Text(text)).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        self.rx = Some(rx);
    }

    /// Whether a person (or a pipe) can still answer.
    fn can_read(&self) -> bool {
        self.available && !self.eof
    }

    async fn recv(&mut self) -> Line {
        self.start();
        let line = match self.rx.as_mut() {
            Some(rx) => rx.recv().await.unwrap_or(Line::Eof),
            None => Line::Eof,
        };
        if matches!(line, Line::Eof) {
            self.eof = true;
        }
        line
    }
}

/// Ctrl-C presses, from the moment the client starts.
fn interrupts() -> mpsc::UnboundedReceiver<()> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if tx.send(()).is_err() {
                return;
            }
        }
    });
    rx
}

// ---------------------------------------------------------------------------------------------
// Output

/// Standard output, remembering whether the cursor is at the start of a line.
struct Printer {
    at_line_start: bool,
}

impl Printer {
    fn print(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        self.at_line_start = text.ends_with('\n');
    }

    /// Ends the current line, if one is started.
    fn end_line(&mut self) {
        if !self.at_line_start {
            self.print("\n");
        }
    }

    /// `text` on a line of its own.
    fn line(&mut self, text: &str) {
        self.end_line();
        self.print(text);
        self.print("\n");
    }

    /// A prompt on standard error, after the current line of output.
    fn prompt(&mut self, text: &str) {
        self.end_line();
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(text.as_bytes());
        let _ = err.flush();
    }
}

/// `text` cut to `max` characters, on one line.
fn shorten(text: &str, max: usize) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        return one_line;
    }
    let cut: String = one_line.chars().take(max).collect();
    format!("{cut}…")
}

/// A tool result's preview: its text, or its JSON, on one line.
fn preview(content: &serde_json::Value) -> String {
    match content {
        serde_json::Value::String(text) => shorten(text, CARD_CHARS),
        other => shorten(&other.to_string(), CARD_CHARS),
    }
}

// ---------------------------------------------------------------------------------------------
// The conversation

/// Where the conversation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At the prompt: a question may be asked.
    Idle,
    /// A question was sent; its `user` message (or an error) has not come yet.
    Asked,
    /// A turn runs: ours, or one someone else started in the session.
    Running,
}

/// What an approval prompt waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prompt {
    /// `Approve? [y/N]`.
    Decide(ApprovalId),
    /// The reason for rejecting it.
    Reason(ApprovalId),
}

/// How waiting for a turn ended.
#[derive(Debug)]
enum Ended {
    Turn(TurnOutcome),
    Refused(String),
    Quit,
}

enum Event {
    Frame(Option<Result<Message, tokio_tungstenite::tungstenite::Error>>),
    Input(Line),
    Interrupt,
}

struct Client {
    endpoint: Endpoint,
    socket: Socket,
    input: Input,
    interrupts: mpsc::UnboundedReceiver<()>,
    out: Printer,
    session: Option<ChatSession>,
    /// The session's `running` as the last `session` message said.
    running: bool,
    /// The `seq` of the last durable message processed.
    last_seq: u32,
    state: State,
    /// Whether the running turn is the one this client asked.
    ours: bool,
    /// How our last turn ended (or why it did not start).
    ended: Option<Ended>,
    /// The answer streaming: its `seq` and the text shown so far.
    streaming: Option<(u32, String)>,
    /// Pending approvals not yet prompted for, oldest first.
    approvals: VecDeque<ApprovalId>,
    prompt: Option<Prompt>,
    /// A `ping` was sent after attaching: until its `pong`, the backlog is replayed.
    syncing: bool,
    /// Ctrl-C was pressed during this turn: `stop` was sent.
    stopping: bool,
    idle_prompt_shown: bool,
    /// The last question asked, and how often it was asked again after `busy`.
    question: String,
    busy_retries: u32,
    /// The last rejection shown, as its tool result's error will say it.
    rejection: Option<String>,
}

impl Client {
    fn new(
        endpoint: Endpoint,
        socket: Socket,
        input: Input,
        interrupts: mpsc::UnboundedReceiver<()>,
    ) -> Self {
        Self {
            endpoint,
            socket,
            input,
            interrupts,
            out: Printer {
                at_line_start: true,
            },
            session: None,
            running: false,
            last_seq: 0,
            state: State::Idle,
            ours: false,
            ended: None,
            streaming: None,
            approvals: VecDeque::new(),
            prompt: None,
            syncing: false,
            stopping: false,
            idle_prompt_shown: false,
            question: String::new(),
            busy_retries: 0,
            rejection: None,
        }
    }

    async fn send(&mut self, message: &ClientMessage) -> anyhow::Result<()> {
        let text = serde_json::to_string(message)?;
        if let Err(err) = self.socket.send(Message::text(text)).await {
            // The reader notices the dropped connection and reconnects; a message that could
            // not be sent is reported.
            eprintln!("warning: could not send {}: {err}", kind(message));
        }
        Ok(())
    }

    /// Creates or opens the session and waits for its `session` message; the backlog of an
    /// opened session (its history) is then shown, up to the `pong` of a `ping`.
    async fn attach(&mut self, attach: ClientMessage) -> anyhow::Result<()> {
        self.send(&attach).await?;
        loop {
            let frame = self.socket.next().await;
            let Some(message) = self.decode(frame)? else {
                continue;
            };
            match message {
                ServerMessage::Session { session, running } => {
                    self.session = Some(session);
                    self.running = running;
                    if running && self.state == State::Idle {
                        // Someone's question is being answered: it is followed until its end.
                        self.state = State::Running;
                    }
                    break;
                }
                ServerMessage::Error { code, message } => {
                    bail!(
                        "the server refused to {}: {message} ({code})",
                        kind(&attach)
                    )
                }
                _ => {}
            }
        }
        self.syncing = true;
        self.send(&ClientMessage::Ping {}).await?;
        while self.syncing {
            let frame = self.socket.next().await;
            if let Some(message) = self.decode(frame)? {
                self.handle(message).await?;
            }
        }
        Ok(())
    }

    /// A text frame as a server message; `None` for frames that carry none.
    fn decode(
        &mut self,
        frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> anyhow::Result<Option<ServerMessage>> {
        match frame {
            Some(Ok(Message::Text(text))) => match serde_json::from_str(text.as_str()) {
                Ok(message) => Ok(Some(message)),
                Err(err) => {
                    eprintln!(
                        "warning: a message this client does not understand ({err}): {}",
                        shorten(text.as_str(), 200)
                    );
                    Ok(None)
                }
            },
            Some(Ok(Message::Close(frame))) => bail!(
                "the server closed the connection{}",
                frame
                    .map(|f| format!(": {} {}", f.code, f.reason))
                    .unwrap_or_default()
            ),
            Some(Ok(_)) => Ok(None),
            Some(Err(err)) => Err(anyhow::Error::new(err).context("the connection failed")),
            None => bail!("the server closed the connection"),
        }
    }

    /// Sends the question; its turn is followed by [`Self::run_until_turn_end`].
    async fn ask(&mut self, question: &str) -> anyhow::Result<()> {
        self.state = State::Asked;
        self.question = question.to_owned();
        self.busy_retries = 0;
        self.ended = None;
        self.stopping = false;
        self.send(&ClientMessage::Ask {
            content: question.to_owned(),
        })
        .await
    }

    /// Follows the session until our turn ends (one-shot).
    async fn run_until_turn_end(&mut self) -> anyhow::Result<Ended> {
        loop {
            if let Some(ended) = self.ended.take() {
                return Ok(ended);
            }
            self.step().await?;
        }
    }

    /// The conversation: questions from the input, until it ends or Ctrl-C at the prompt.
    async fn repl(&mut self) -> anyhow::Result<()> {
        loop {
            if let Some(Ended::Quit) = self.ended.take() {
                return Ok(());
            }
            if self.state == State::Idle && !self.input.can_read() {
                return Ok(());
            }
            self.step().await?;
        }
    }

    /// Waits for one event and handles it.
    async fn step(&mut self) -> anyhow::Result<()> {
        if self.state == State::Idle
            && self.prompt.is_none()
            && self.input.available
            && !self.idle_prompt_shown
            && self.ended.is_none()
        {
            self.out.prompt("› ");
            self.idle_prompt_shown = true;
        }
        let accepting = self.input.can_read()
            && (self.prompt.is_some() || (self.state == State::Idle && self.ended.is_none()));
        let event = tokio::select! {
            frame = self.socket.next() => Event::Frame(frame),
            line = self.input.recv(), if accepting => Event::Input(line),
            Some(()) = self.interrupts.recv() => Event::Interrupt,
        };
        match event {
            Event::Frame(frame) => match self.decode(frame) {
                Ok(Some(message)) => self.handle(message).await,
                Ok(None) => Ok(()),
                Err(err) => self.reconnect(err).await,
            },
            Event::Input(line) => self.on_input(line).await,
            Event::Interrupt => self.on_interrupt().await,
        }
    }

    async fn on_interrupt(&mut self) -> anyhow::Result<()> {
        match self.state {
            State::Idle => {
                self.out.prompt("\n");
                self.ended = Some(Ended::Quit);
            }
            State::Asked | State::Running if !self.stopping => {
                self.stopping = true;
                self.prompt = None;
                self.out
                    .prompt("^C stopping the answer… (Ctrl-C again quits)\n");
                self.send(&ClientMessage::Stop {}).await?;
            }
            State::Asked | State::Running => {
                self.out.prompt("\n");
                self.ended = Some(Ended::Quit);
            }
        }
        Ok(())
    }

    async fn on_input(&mut self, line: Line) -> anyhow::Result<()> {
        match (self.prompt, line) {
            (Some(Prompt::Decide(id)), Line::Text(answer)) => {
                let answer = answer.trim().to_ascii_lowercase();
                if answer == "y" || answer == "yes" {
                    self.send(&ClientMessage::Approve {
                        approval: id,
                        reason: None,
                    })
                    .await?;
                    self.next_prompt();
                } else {
                    self.prompt = Some(Prompt::Reason(id));
                    self.out.prompt("Reason for rejecting (optional): ");
                }
            }
            (Some(Prompt::Reason(id)), Line::Text(reason)) => {
                let reason = reason.trim();
                self.send(&ClientMessage::Reject {
                    approval: id,
                    reason: (!reason.is_empty()).then(|| reason.to_owned()),
                })
                .await?;
                self.next_prompt();
            }
            (Some(Prompt::Decide(id) | Prompt::Reason(id)), Line::Eof) => {
                self.out.prompt("\n");
                self.send(&ClientMessage::Reject {
                    approval: id,
                    reason: Some("no answer: the input ended".to_owned()),
                })
                .await?;
                self.prompt = None;
                self.reject_all_pending("no answer: the input ended")
                    .await?;
            }
            (None, Line::Text(question)) => {
                self.idle_prompt_shown = false;
                let question = question.trim();
                match question {
                    "" => {}
                    "/quit" | "/exit" | "/q" => self.ended = Some(Ended::Quit),
                    _ => self.ask(question).await?,
                }
            }
            (None, Line::Eof) => {
                self.out.prompt("\n");
            }
        }
        Ok(())
    }

    /// Prompts for the next pending approval, if any.
    fn next_prompt(&mut self) {
        self.prompt = None;
        if let Some(id) = self.approvals.front().copied() {
            self.approvals.pop_front();
            self.prompt_for(id);
        }
    }

    fn prompt_for(&mut self, id: ApprovalId) {
        if self.input.can_read() {
            self.prompt = Some(Prompt::Decide(id));
            self.out.prompt("Approve? [y/N] ");
        }
    }

    /// Rejects every queued approval: nobody is there to answer.
    async fn reject_all_pending(&mut self, reason: &str) -> anyhow::Result<()> {
        while let Some(id) = self.approvals.pop_front() {
            self.send(&ClientMessage::Reject {
                approval: id,
                reason: Some(reason.to_owned()),
            })
            .await?;
        }
        Ok(())
    }

    /// Connects again and re-attaches after the last processed `seq`.
    async fn reconnect(&mut self, why: anyhow::Error) -> anyhow::Result<()> {
        let Some(session) = self.session.as_ref().map(|s| s.id) else {
            return Err(why);
        };
        self.out.end_line();
        eprintln!(
            "the connection was lost ({}); reconnecting…",
            why.root_cause()
        );
        let mut delay = Duration::from_millis(250);
        let mut last_err = why;
        for _ in 0..RECONNECT_ATTEMPTS {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
            match connect(&self.endpoint).await {
                Ok(socket) => {
                    self.socket = socket;
                    // Asked again once re-attached: the backlog does not repeat it.
                    if let Some(Prompt::Decide(id) | Prompt::Reason(id)) = self.prompt.take() {
                        self.approvals.push_front(id);
                    }
                    let after = self.last_seq;
                    self.attach(ClientMessage::Open { session, after }).await?;
                    eprintln!("reconnected");
                    if self.state == State::Running && !self.running {
                        // The server restarted mid-turn: the turn does not go on.
                        self.out
                            .line("(the answer was interrupted by a server restart: ask again)");
                        self.finish(Ended::Turn(TurnOutcome::Failed));
                    } else if self.state == State::Asked {
                        self.out
                            .line("(the question did not reach the server: ask again)");
                        self.finish(Ended::Refused("the connection was lost".into()));
                    } else if self.state == State::Running {
                        // Approvals still pending were shown again by the backlog.
                        if self.prompt.is_none() {
                            self.next_prompt();
                        }
                    }
                    return Ok(());
                }
                Err(err) => last_err = err,
            }
        }
        Err(last_err.context(format!(
            "lost the connection to Aurora and could not reconnect {RECONNECT_ATTEMPTS} times"
        )))
    }

    /// The turn is over: back to the prompt.
    fn finish(&mut self, ended: Ended) {
        self.state = State::Idle;
        self.streaming = None;
        self.prompt = None;
        self.approvals.clear();
        self.stopping = false;
        if self.ours {
            self.ended = Some(ended);
        }
        self.ours = false;
        self.idle_prompt_shown = false;
    }

    /// Whether a durable message was already processed; otherwise it becomes the last one.
    fn seen(&mut self, seq: u32) -> bool {
        if seq <= self.last_seq {
            return true;
        }
        self.last_seq = seq;
        false
    }

    async fn handle(&mut self, message: ServerMessage) -> anyhow::Result<()> {
        match message {
            ServerMessage::Session { session, running } => {
                self.session = Some(session);
                self.running = running;
            }
            ServerMessage::Pong => {
                if self.syncing {
                    self.syncing = false;
                    if self.prompt.is_none() {
                        self.next_prompt();
                    }
                }
            }
            ServerMessage::Error { code, message } => {
                if self.state == State::Asked
                    && code == ProtocolErrorCode::Busy
                    && self.busy_retries < BUSY_RETRIES
                {
                    // The previous turn's `turn_end` can arrive a moment before the session
                    // takes a new question: ask again shortly.
                    self.busy_retries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let content = self.question.clone();
                    return self.send(&ClientMessage::Ask { content }).await;
                }
                self.out.end_line();
                eprintln!("error from the server ({code}): {message}");
                if self.state == State::Asked {
                    self.ours = true;
                    self.finish(Ended::Refused(format!("{message} ({code})")));
                }
            }
            ServerMessage::Token { seq, text } => {
                if seq <= self.last_seq {
                    return Ok(());
                }
                match &mut self.streaming {
                    Some((s, shown)) if *s == seq => {
                        shown.push_str(&text);
                        self.out.print(&text);
                    }
                    _ => {
                        self.out.end_line();
                        self.out.print(&text);
                        self.streaming = Some((seq, text));
                    }
                }
            }
            ServerMessage::Partial { seq, text } => {
                if seq <= self.last_seq {
                    return Ok(());
                }
                self.show_rest(seq, &text);
                self.streaming = Some((seq, text));
            }
            ServerMessage::User {
                seq, content, by, ..
            } => {
                if self.seen(seq) {
                    return Ok(());
                }
                if self.state == State::Asked {
                    self.ours = true;
                } else {
                    self.out.line(&format!(
                        "» {}: {}",
                        by.as_deref().unwrap_or("someone"),
                        content
                    ));
                }
                self.state = State::Running;
            }
            ServerMessage::Assistant { seq, content, .. } => {
                if self.seen(seq) {
                    return Ok(());
                }
                self.show_rest(seq, &content);
                self.streaming = None;
                // A stopped answer is followed by a `turn_end` that says so.
                self.out.end_line();
            }
            ServerMessage::ToolCall {
                seq,
                tool,
                arguments,
                ..
            } => {
                if self.seen(seq) {
                    return Ok(());
                }
                self.out.line(&format!(
                    "▸ {tool} {}",
                    shorten(&arguments.to_string(), CARD_CHARS)
                ));
            }
            ServerMessage::Approval {
                seq,
                approval_id,
                tool,
                arguments,
                status,
                decided_by,
                reason,
                ..
            } => {
                if self.seen(seq) {
                    return Ok(());
                }
                self.on_approval(approval_id, &tool, &arguments, status, decided_by, reason)
                    .await?;
            }
            ServerMessage::ToolResult {
                seq,
                output,
                error,
                duration_ms,
                truncated,
                ..
            } => {
                if self.seen(seq) {
                    return Ok(());
                }
                let took = duration_ms.map(|ms| format!("{ms} ms")).unwrap_or_default();
                match (error, output) {
                    // The rejection was just shown with the decision.
                    (Some(error), _) if self.rejection.as_deref() == Some(error.as_str()) => {
                        self.rejection = None;
                    }
                    (Some(error), _) => self
                        .out
                        .line(&format!("  ✗ {}", shorten(&error, CARD_CHARS))),
                    (None, Some(output)) => self.out.line(&format!(
                        "  ✓ {took}: {}{}",
                        preview(&output.content),
                        if truncated { " (truncated)" } else { "" }
                    )),
                    (None, None) => self.out.line(&format!("  ✓ {took}")),
                }
            }
            ServerMessage::TurnEnd {
                seq,
                outcome,
                message,
                ..
            } => {
                if self.seen(seq) {
                    return Ok(());
                }
                self.out.end_line();
                if outcome != TurnOutcome::Answered {
                    match message {
                        Some(message) => self.out.line(&format!("[{outcome}] {message}")),
                        None => self.out.line(&format!("[{outcome}]")),
                    }
                }
                self.finish(Ended::Turn(outcome));
            }
        }
        Ok(())
    }

    /// Shows what of `text` (the answer `seq` so far) is not shown yet.
    fn show_rest(&mut self, seq: u32, text: &str) {
        match &self.streaming {
            Some((s, shown)) if *s == seq && text.starts_with(shown.as_str()) => {
                let rest = text[shown.len()..].to_owned();
                self.out.print(&rest);
            }
            _ => {
                self.out.end_line();
                self.out.print(text);
            }
        }
    }

    async fn on_approval(
        &mut self,
        id: ApprovalId,
        tool: &str,
        arguments: &serde_json::Value,
        status: ApprovalStatus,
        decided_by: Option<String>,
        reason: Option<String>,
    ) -> anyhow::Result<()> {
        match status {
            ApprovalStatus::Pending => {
                let shown = serde_json::to_string_pretty(arguments)
                    .unwrap_or_else(|_| arguments.to_string());
                self.out
                    .line(&format!("⏸ approval needed to run {tool} with"));
                for line in shown.lines() {
                    self.out.line(&format!("    {line}"));
                }
                if self.input.available && !self.input.eof {
                    self.approvals.push_back(id);
                    if self.prompt.is_none() && !self.syncing {
                        self.next_prompt();
                    }
                } else {
                    let reason = if self.input.available {
                        "no answer: the input ended"
                    } else {
                        NO_TERMINAL
                    };
                    self.out.line(&format!("  rejecting it: {reason}"));
                    self.send(&ClientMessage::Reject {
                        approval: id,
                        reason: Some(reason.to_owned()),
                    })
                    .await?;
                }
            }
            ApprovalStatus::Approved | ApprovalStatus::Rejected => {
                self.approvals.retain(|a| *a != id);
                let prompted =
                    matches!(self.prompt, Some(Prompt::Decide(p) | Prompt::Reason(p)) if p == id);
                if prompted {
                    // Decided elsewhere (another tab) while we asked.
                    self.out.prompt("\n");
                    self.prompt = None;
                }
                let by = decided_by.as_deref().unwrap_or("someone");
                let mut verdict = if status == ApprovalStatus::Approved {
                    format!("approved by {by}")
                } else {
                    format!("rejected by {by}")
                };
                if let Some(reason) = reason {
                    verdict = format!("{verdict}: {reason}");
                }
                let mark = if status == ApprovalStatus::Approved {
                    "✓"
                } else {
                    // The tool result that follows says the same: it is not repeated.
                    self.rejection = Some(verdict.clone());
                    "✗"
                };
                self.out.line(&format!("  {mark} {verdict}"));
                if prompted && !self.syncing {
                    self.next_prompt();
                }
            }
        }
        Ok(())
    }
}

fn kind(message: &ClientMessage) -> &'static str {
    match message {
        ClientMessage::Create { .. } => "create",
        ClientMessage::Open { .. } => "open",
        ClientMessage::Ask { .. } => "ask",
        ClientMessage::Stop {} => "stop",
        ClientMessage::Approve { .. } => "approve",
        ClientMessage::Reject { .. } => "reject",
        ClientMessage::Ping {} => "ping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_map_to_http_and_websocket_urls() {
        let e = Endpoint::new("https://aurora.example/base", Some("t".into())).unwrap();
        assert_eq!(
            e.url("api/v1/chat/sessions").unwrap().as_str(),
            "https://aurora.example/base/api/v1/chat/sessions"
        );
        assert_eq!(e.ws_url(), "wss://aurora.example/base/api/v1/chat/ws");
        let e = Endpoint::new("ws://127.0.0.1:8080", Some("t".into())).unwrap();
        assert_eq!(e.ws_url(), "ws://127.0.0.1:8080/api/v1/chat/ws");
        assert!(Endpoint::new("ftp://x", Some("t".into())).is_err());
        assert!(Endpoint::new("not a url", Some("t".into())).is_err());
        let err = Endpoint::new("http://x", None).err().unwrap().to_string();
        assert!(err.contains("AURORA_TOKEN"), "{err}");
    }

    #[test]
    fn previews_are_one_short_line() {
        assert_eq!(shorten("a\n b   c", 10), "a b c");
        assert_eq!(shorten("abcdef", 3), "abc…");
        assert_eq!(preview(&serde_json::json!({"a": 1})), r#"{"a":1}"#);
    }
}
