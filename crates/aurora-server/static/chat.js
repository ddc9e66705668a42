// The Chat page's conversation, over the WebSocket protocol of docs/chat-protocol.md.
//
// Durable messages (those with a seq) are processed once each, in order; the last one's seq is
// kept so that a reconnect resumes with {"type":"open","after":seq}. Tokens and partials build
// the answer being written and are replaced by the durable assistant message of the same seq.
// Model text and tool output are always put in the page as text (textContent), never as HTML.
(function () {
  "use strict";
  const root = document.getElementById("chat");
  if (!root) return;

  const sessionId = root.dataset.session;
  const canEdit = root.dataset.canEdit === "true";
  const log = document.getElementById("chat-log");
  const statusEl = document.getElementById("chat-status");
  const notices = document.getElementById("chat-notices");
  const form = document.getElementById("chat-form");
  const input = document.getElementById("chat-input");
  const sendBtn = document.getElementById("chat-send");
  const stopBtn = document.getElementById("chat-stop");
  const titleEl = document.getElementById("chat-title");
  const modeEl = document.getElementById("chat-mode");
  const usageEl = document.getElementById("chat-usage");

  const MAX_PREVIEW_CHARS = 2000;
  const MAX_TABLE_ROWS = 10;
  const MAX_TABLE_COLUMNS = 8;
  const MAX_CELL_CHARS = 120;

  let ws = null;
  let connected = false;
  let attempts = 0;
  let retryTimer = null;
  let gone = false; // the session was deleted or does not exist: stop reconnecting
  let lastSeq = 0; // the last durable seq processed
  let replayedUpTo = 0; // last_seq of the latest session message: older frames are history
  let running = root.dataset.running === "true";
  let asking = false; // an ask was sent and its user message has not arrived
  let lastSent = "";
  let pendingQuestion = "";

  const answers = new Map(); // seq -> answer bubble (streaming or final)
  const toolCards = new Map(); // call_id -> tool card
  const callSeqs = new Map(); // tool call seq -> call_id
  const approvals = new Map(); // approval id -> approval card

  // ------------------------------------------------------------------------------------------
  // Small DOM helpers

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // Follow the conversation to its end unless the person scrolled up to read.
  let follow = true;
  window.addEventListener("scroll", () => {
    follow = window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 200;
  }, { passive: true });

  function scrollToEnd() {
    if (follow) window.scrollTo(0, document.documentElement.scrollHeight);
  }

  function append(node) {
    log.appendChild(node);
    scrollToEnd();
    return node;
  }

  function shortTime(at) {
    if (!at) return "";
    const d = new Date(at);
    if (Number.isNaN(d.getTime())) return "";
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function truncate(text, max) {
    return text.length > max ? text.slice(0, max) + "…" : text;
  }

  function pretty(value) {
    if (value === undefined) return "";
    try { return JSON.stringify(value, null, 2); } catch (_) { return String(value); }
  }

  // A tiny, safe subset of Markdown: ``` fenced blocks, "- " lists, `code` and **bold**.
  // Every piece of model text goes in through textContent.
  function inline(parent, text) {
    const pattern = /(`[^`\n]+`|\*\*[^*\n]+\*\*)/g;
    let last = 0;
    for (const match of text.matchAll(pattern)) {
      if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      const token = match[0];
      if (token.startsWith("`")) parent.appendChild(el("code", "", token.slice(1, -1)));
      else parent.appendChild(el("strong", "", token.slice(2, -2)));
      last = match.index + token.length;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function renderText(target, text) {
    target.replaceChildren();
    const lines = text.split("\n");
    let para = [];
    let list = null;
    const flush = () => {
      if (para.length) {
        const p = el("p");
        para.forEach((line, i) => {
          if (i) p.appendChild(el("br"));
          inline(p, line);
        });
        target.appendChild(p);
        para = [];
      }
    };
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (line.trimStart().startsWith("```")) {
        flush();
        list = null;
        const code = [];
        i++;
        while (i < lines.length && !lines[i].trimStart().startsWith("```")) code.push(lines[i++]);
        target.appendChild(el("pre", "json", code.join("\n")));
        continue;
      }
      const item = /^\s*[-*]\s+(.*)$/.exec(line);
      if (item) {
        flush();
        if (!list) { list = el("ul"); target.appendChild(list); }
        const li = el("li");
        inline(li, item[1]);
        list.appendChild(li);
        continue;
      }
      list = null;
      if (line.trim() === "") flush(); else para.push(line);
    }
    flush();
  }

  // ------------------------------------------------------------------------------------------
  // Status, notices, input

  function setStatus(state, text) {
    if (!statusEl) return;
    statusEl.dataset.state = state;
    statusEl.textContent = text;
  }

  function notice(text, kind) {
    const box = el("div", "alert chat-notice " + (kind === "warn" ? "alert-warn" : "alert-error"));
    box.setAttribute("role", "alert");
    box.appendChild(el("span", "chat-notice-text", text));
    const close = el("button", "btn btn-quiet btn-small chat-notice-close", "Dismiss");
    close.type = "button";
    close.addEventListener("click", () => box.remove());
    box.appendChild(close);
    notices.appendChild(box);
    return box;
  }

  function updateControls() {
    root.dataset.running = running ? "true" : "false";
    syncListBadge();
    if (!form) return;
    const busy = running || asking;
    input.disabled = busy || gone;
    sendBtn.disabled = busy || gone || !connected;
    stopBtn.hidden = !running;
    stopBtn.disabled = !connected;
  }

  // The running badge of this conversation in the list on the left.
  function syncListBadge() {
    const item = document.querySelector('.chat-session[data-session="' + CSS.escape(sessionId) + '"] .chat-session-meta');
    if (!item) return;
    const badge = item.querySelector(".badge-running");
    if (running && !badge) item.insertBefore(el("span", "badge badge-running", "running"), item.children[1] || null);
    if (!running && badge) badge.remove();
  }

  function send(message) {
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      notice("Not connected: the message was not sent. Reconnecting…", "warn");
      return false;
    }
    lastSent = message.type;
    ws.send(JSON.stringify(message));
    return true;
  }

  // ------------------------------------------------------------------------------------------
  // Messages

  function messageShell(kind, seq, who, at) {
    const li = el("li", "msg " + kind);
    if (seq) li.dataset.seq = String(seq);
    const meta = el("div", "msg-meta muted small");
    meta.appendChild(el("span", "msg-who", who));
    if (at) meta.appendChild(el("span", "msg-at", shortTime(at)));
    li.appendChild(meta);
    return li;
  }

  function showUser(m) {
    const li = messageShell("msg-user", m.seq, m.by || "You", m.at);
    li.appendChild(el("div", "msg-text", m.content));
    append(li);
  }

  function answerBubble(seq) {
    let bubble = answers.get(seq);
    if (!bubble) {
      bubble = messageShell("msg-assistant streaming", seq, "Aurora", null);
      bubble.dataset.text = "";
      bubble.appendChild(el("div", "msg-text"));
      answers.set(seq, bubble);
      append(bubble);
    }
    return bubble;
  }

  function setAnswerText(bubble, text) {
    bubble.dataset.text = text;
    renderText(bubble.querySelector(".msg-text"), text);
    scrollToEnd();
  }

  function showToken(m) {
    if (m.seq <= lastSeq) return; // already recorded: the assistant message has the text
    const bubble = answerBubble(m.seq);
    setAnswerText(bubble, (bubble.dataset.text || "") + m.text);
  }

  function showPartial(m) {
    if (m.seq <= lastSeq) return;
    setAnswerText(answerBubble(m.seq), m.text);
  }

  function showAssistant(m) {
    let bubble = answers.get(m.seq);
    const hasText = (m.content || "").trim() !== "";
    if (!hasText && !m.stopped) {
      // Only tool calls: their cards show them.
      if (bubble) bubble.remove();
      answers.delete(m.seq);
      return;
    }
    if (!bubble) bubble = answerBubble(m.seq);
    bubble.classList.remove("streaming");
    bubble.classList.add("final");
    const at = bubble.querySelector(".msg-at") || bubble.querySelector(".msg-meta").appendChild(el("span", "msg-at"));
    at.textContent = shortTime(m.at);
    setAnswerText(bubble, m.content || "");
    if (m.stopped) bubble.appendChild(el("div", "msg-stopped muted small", "stopped before the answer was finished"));
    if (m.model || m.usage) {
      const tokens = m.usage ? (m.usage.input_tokens || 0) + (m.usage.output_tokens || 0) : 0;
      const bits = [];
      if (m.model) bits.push(m.model);
      if (tokens) bits.push(tokens + " tokens");
      if (bits.length) bubble.appendChild(el("div", "msg-usage muted small", bits.join(" · ")));
    }
  }

  // ------------------------------------------------------------------------------------------
  // Tool cards

  function toolCard(callId, tool) {
    let card = toolCards.get(callId);
    if (!card) {
      card = el("li", "tool-card");
      card.dataset.callId = callId;
      card.dataset.state = "running";
      const head = el("div", "tool-head");
      head.appendChild(el("span", "tool-icon", "⚙"));
      head.appendChild(el("code", "tool-name", tool || "tool"));
      head.appendChild(el("span", "tool-state badge", "running"));
      head.appendChild(el("span", "tool-duration muted small"));
      card.appendChild(head);
      card.appendChild(el("div", "tool-approval-slot"));
      card.appendChild(el("div", "tool-result"));
      toolCards.set(callId, card);
      append(card);
    }
    return card;
  }

  function setToolState(card, state, text) {
    card.dataset.state = state;
    const badge = card.querySelector(".tool-state");
    badge.className = "tool-state badge tool-state-" + state;
    badge.textContent = text;
  }

  function showToolCall(m) {
    callSeqs.set(m.seq, m.call_id);
    const card = toolCard(m.call_id, m.tool);
    card.dataset.seq = String(m.seq);
    if (m.mutating) {
      card.classList.add("tool-mutating");
      card.querySelector(".tool-head").insertBefore(el("span", "badge tool-mutating-badge", "changes a system"), card.querySelector(".tool-state"));
      setToolState(card, "waiting", "awaiting approval");
    }
    const args = el("details", "tool-args");
    args.appendChild(el("summary", "", "Arguments"));
    args.appendChild(el("pre", "json", pretty(m.arguments)));
    card.insertBefore(args, card.querySelector(".tool-approval-slot"));
  }

  function cellText(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "object") return truncate(JSON.stringify(value), MAX_CELL_CHARS);
    return truncate(String(value), MAX_CELL_CHARS);
  }

  function isRowList(value) {
    return Array.isArray(value) && value.length > 0 &&
      value.every((v) => v !== null && typeof v === "object" && !Array.isArray(v));
  }

  function table(rows) {
    const columns = [];
    for (const row of rows.slice(0, MAX_TABLE_ROWS)) {
      for (const key of Object.keys(row)) {
        if (!columns.includes(key) && columns.length < MAX_TABLE_COLUMNS) columns.push(key);
      }
    }
    const wrap = el("div", "tool-table-wrap");
    const t = el("table", "table tool-table");
    const head = el("tr");
    for (const c of columns) head.appendChild(el("th", "", c));
    t.appendChild(el("thead")).appendChild(head);
    const body = el("tbody");
    for (const row of rows.slice(0, MAX_TABLE_ROWS)) {
      const tr = el("tr");
      for (const c of columns) tr.appendChild(el("td", "", cellText(row[c])));
      body.appendChild(tr);
    }
    t.appendChild(body);
    wrap.appendChild(t);
    if (rows.length > MAX_TABLE_ROWS) wrap.appendChild(el("p", "muted small", "first " + MAX_TABLE_ROWS + " of " + rows.length + " rows"));
    return wrap;
  }

  function chart(series) {
    const drawn = series.filter((s) => Array.isArray(s.points) && s.points.length).slice(0, 8).map((s) => {
      const labels = s.labels || {};
      const others = Object.keys(labels).filter((k) => k !== "__name__").map((k) => k + "=" + labels[k]);
      return { name: (labels.__name__ || "") + (others.length ? "{" + others.join(", ") + "}" : ""), points: s.points.slice(0, 2000) };
    });
    const div = el("div", "series-chart");
    div.setAttribute("aria-label", "chart of the returned series");
    div.dataset.series = JSON.stringify(drawn);
    return div;
  }

  function drawCharts(card) {
    // drawChart comes from app.js (uPlot is loaded on this page).
    if (typeof drawChart !== "function") return;
    card.querySelectorAll(".series-chart[data-series]:not([data-drawn])").forEach((c) => drawChart(c));
  }

  function showToolResult(m) {
    const card = toolCard(m.call_id, m.tool);
    const slot = card.querySelector(".tool-result");
    slot.replaceChildren();
    if (m.duration_ms !== undefined && m.duration_ms !== null) {
      card.querySelector(".tool-duration").textContent = m.duration_ms < 1000
        ? m.duration_ms + " ms" : (m.duration_ms / 1000).toFixed(1) + " s";
    }
    if (m.error) {
      setToolState(card, "failed", "failed");
      slot.appendChild(el("p", "tool-error", m.error));
      return;
    }
    setToolState(card, "done", "done");
    const output = m.output || {};
    if (output.source) slot.appendChild(el("div", "tool-source muted small", "from " + output.source));
    const content = output.content;
    if (Array.isArray(output.series) && output.series.length) {
      slot.appendChild(chart(output.series));
    } else if (isRowList(content)) {
      slot.appendChild(table(content));
    } else if (content && typeof content === "object" && !Array.isArray(content)) {
      // An object holding a list of rows (e.g. {"count": 2, "alerts": […]}): the list as a table,
      // the other fields as a summary line.
      const key = Object.keys(content).find((k) => isRowList(content[k]));
      if (key) {
        const rest = Object.keys(content).filter((k) => k !== key && (content[k] === null || typeof content[k] !== "object"));
        if (rest.length) slot.appendChild(el("div", "tool-summary small", rest.map((k) => k + ": " + cellText(content[k])).join(" · ")));
        slot.appendChild(el("div", "tool-table-label muted small", key));
        slot.appendChild(table(content[key]));
      } else {
        slot.appendChild(el("pre", "json tool-preview", truncate(pretty(content), MAX_PREVIEW_CHARS)));
      }
    } else {
      const text = typeof content === "string" ? content : pretty(content);
      slot.appendChild(el("pre", "json tool-preview", truncate(text, MAX_PREVIEW_CHARS)));
    }
    if (m.truncated) slot.appendChild(el("p", "muted small", "The result was cut to the size the model is shown."));
    const full = el("details", "tool-full");
    full.appendChild(el("summary", "", "Full result"));
    full.appendChild(el("pre", "json", truncate(pretty(content), 20000)));
    slot.appendChild(full);
    drawCharts(card);
  }

  // ------------------------------------------------------------------------------------------
  // Approvals

  function decide(card, approve) {
    const reasonInput = card.querySelector(".reject-reason");
    const reason = reasonInput ? reasonInput.value.trim() : "";
    follow = true;
    const message = { type: approve ? "approve" : "reject", approval: card.dataset.approval };
    if (!approve && reason) message.reason = reason;
    if (send(message)) {
      card.querySelectorAll("button, input").forEach((b) => { b.disabled = true; });
      card.querySelector(".approval-state").textContent = approve ? "approving…" : "rejecting…";
    }
  }

  function approvalCard(m) {
    let card = approvals.get(m.approval_id);
    if (card) return card;
    card = el("div", "approval-card");
    card.dataset.approval = m.approval_id;
    const p = el("p");
    p.appendChild(el("strong", "", "Approval needed: "));
    p.appendChild(document.createTextNode("the model wants to run "));
    p.appendChild(el("code", "approval-tool", m.tool));
    p.appendChild(document.createTextNode(" with exactly these arguments:"));
    card.appendChild(p);
    card.appendChild(el("pre", "json approval-args", pretty(m.arguments)));
    card.appendChild(el("p", "approval-state muted small"));
    approvals.set(m.approval_id, card);
    const callId = callSeqs.get(m.call_seq);
    const tool = callId && toolCards.get(callId);
    if (tool) tool.querySelector(".tool-approval-slot").appendChild(card);
    else append(el("li", "approval-item")).appendChild(card);
    return card;
  }

  function showApproval(m) {
    const card = approvalCard(m);
    card.dataset.status = m.status;
    const state = card.querySelector(".approval-state");
    const callId = callSeqs.get(m.call_seq);
    const tool = callId && toolCards.get(callId);
    if (m.status === "pending") {
      state.textContent = "Waiting for a decision.";
      if (canEdit && !card.querySelector(".approval-actions")) {
        const row = el("div", "row approval-actions");
        const approve = el("button", "btn btn-primary btn-small approve-btn", "Approve");
        approve.type = "button";
        approve.addEventListener("click", () => decide(card, true));
        const reason = el("input", "reject-reason");
        reason.type = "text";
        reason.placeholder = "why not (optional)";
        reason.maxLength = 2000;
        reason.setAttribute("aria-label", "Reason for rejecting");
        const reject = el("button", "btn btn-quiet btn-small reject-btn", "Reject");
        reject.type = "button";
        reject.addEventListener("click", () => decide(card, false));
        row.append(approve, reason, reject);
        card.appendChild(row);
        // A decision is needed: bring it into view (above the sticky composer).
        card.scrollIntoView({ block: "center" });
      } else if (!canEdit) {
        state.textContent = "Waiting for an editor to approve or reject it.";
      }
      if (tool) setToolState(tool, "waiting", "awaiting approval");
      return;
    }
    const actions = card.querySelector(".approval-actions");
    if (actions) actions.remove();
    card.classList.add(m.status === "approved" ? "approval-approved" : "approval-rejected");
    const who = m.decided_by || "someone";
    let text = (m.status === "approved" ? "approved by " : m.status + " by ") + who;
    if (m.reason) text += ": " + m.reason;
    state.textContent = text;
    state.classList.remove("muted");
    if (tool) setToolState(tool, m.status === "approved" ? "running" : "rejected", m.status === "approved" ? "running" : "rejected");
  }

  // ------------------------------------------------------------------------------------------
  // Turns and sessions

  function showTurnEnd(m) {
    if (m.outcome !== "answered") {
      const li = el("li", "turn-end turn-" + m.outcome);
      const label = { stopped: "Stopped", exhausted: "Out of budget", failed: "Failed" }[m.outcome] || m.outcome;
      li.appendChild(el("strong", "", label));
      if (m.message) li.appendChild(document.createTextNode(": " + m.message));
      append(li);
    }
    // Streaming bubbles that never got their assistant message (a failed answer) stay as
    // they are, marked unfinished.
    for (const [seq, bubble] of answers) {
      if (seq < m.seq && bubble.classList.contains("streaming")) {
        bubble.classList.remove("streaming");
        bubble.classList.add("unfinished");
      }
    }
  }

  // The session's usage: from the session message, plus the answers recorded since.
  const totals = { tokens: 0, cost: 0 };
  function showTotals() {
    if (usageEl) usageEl.textContent = totals.tokens + " tokens · $" + totals.cost.toFixed(4);
  }

  function showSession(m) {
    const s = m.session || {};
    if (s.title) {
      titleEl.textContent = s.title;
      document.title = s.title + " · Chat · Aurora";
      const link = document.querySelector('.chat-session[data-session="' + CSS.escape(s.id) + '"] .chat-session-title');
      if (link) link.textContent = s.title;
    }
    if (s.mode && modeEl) {
      modeEl.textContent = s.mode;
      modeEl.className = "badge mode mode-" + s.mode;
    }
    if (s.usage) {
      totals.tokens = (s.usage.input_tokens || 0) + (s.usage.output_tokens || 0);
      totals.cost = Number(s.cost_usd || 0);
      showTotals();
    }
    replayedUpTo = Math.max(replayedUpTo, s.last_seq || 0);
    running = !!m.running;
    updateControls();
  }

  function durable(m) {
    if (m.seq <= lastSeq) {
      // The protocol sends each durable message once, in order: say so loudly if not.
      console.warn("chat: durable message out of order or repeated", m.seq, "after", lastSeq, m.type);
      return;
    }
    lastSeq = m.seq;
    // Messages recorded before this connection attached are history: only the session message
    // says whether a turn runs now.
    const live = m.seq > replayedUpTo;
    switch (m.type) {
      case "user":
        asking = false;
        if (live) running = true;
        showUser(m);
        break;
      case "assistant":
        if (live && m.usage) {
          totals.tokens += (m.usage.input_tokens || 0) + (m.usage.output_tokens || 0);
          totals.cost += Number(m.cost_usd || 0);
          showTotals();
        }
        showAssistant(m);
        break;
      case "tool_call": showToolCall(m); break;
      case "approval": showApproval(m); break;
      case "tool_result": showToolResult(m); break;
      case "turn_end":
        if (live) running = false;
        showTurnEnd(m);
        break;
    }
    updateControls();
  }

  function receive(m) {
    switch (m.type) {
      case "session": showSession(m); break;
      case "token": showToken(m); break;
      case "partial": showPartial(m); break;
      case "pong": break;
      case "error": {
        const code = m.code || "error";
        notice(m.message || code, code === "rate_limited" ? "warn" : "error").dataset.code = code;
        if (code === "not_found" && lastSent !== "approve" && lastSent !== "reject") {
          gone = true;
          setStatus("gone", "this conversation no longer exists");
        }
        if (lastSent === "ask" && asking) {
          // The question was refused (busy, too long, …): give it back to edit or resend.
          asking = false;
          if (input && !input.value) input.value = pendingQuestion;
        }
        if (lastSent === "approve" || lastSent === "reject") {
          // The decision was refused: let the person try again.
          document.querySelectorAll(".approval-card[data-status=pending] button, .approval-card[data-status=pending] input").forEach((b) => { b.disabled = false; });
          document.querySelectorAll(".approval-card[data-status=pending] .approval-state").forEach((s) => { s.textContent = "Waiting for a decision."; });
        }
        updateControls();
        break;
      }
      default:
        if (typeof m.seq === "number" && m.at !== undefined) durable(m);
    }
  }

  // ------------------------------------------------------------------------------------------
  // The connection

  function connect() {
    retryTimer = null;
    if (gone) return;
    const url = (location.protocol === "https:" ? "wss" : "ws") + "://" + location.host + "/api/v1/chat/ws";
    setStatus(attempts ? "reconnecting" : "connecting", attempts ? "reconnecting…" : "connecting…");
    let socket;
    try { socket = new WebSocket(url); } catch (_) { scheduleReconnect(); return; }
    ws = socket;
    socket.onopen = () => {
      connected = true;
      attempts = 0;
      root.dataset.connections = String(Number(root.dataset.connections || 0) + 1);
      setStatus("connected", "connected");
      socket.send(JSON.stringify({ type: "open", session: sessionId, after: lastSeq }));
      lastSent = "open";
      updateControls();
    };
    socket.onmessage = (event) => {
      let m;
      try { m = JSON.parse(event.data); } catch (_) { return; }
      if (m && typeof m === "object") receive(m);
    };
    socket.onclose = () => {
      if (ws !== socket) return;
      connected = false;
      ws = null;
      updateControls();
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    if (gone || retryTimer) return;
    const delay = Math.min(10000, 500 * Math.pow(2, attempts));
    attempts++;
    setStatus("reconnecting", "reconnecting…");
    retryTimer = setTimeout(connect, delay);
  }

  // ------------------------------------------------------------------------------------------
  // The composer

  function ask() {
    const content = input.value.trim();
    if (!content || running || asking) return;
    if (send({ type: "ask", content })) {
      asking = true;
      follow = true;
      pendingQuestion = content;
      input.value = "";
      updateControls();
    }
  }

  if (form) {
    form.addEventListener("submit", (event) => { event.preventDefault(); ask(); });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        ask();
      }
    });
    stopBtn.addEventListener("click", () => {
      if (send({ type: "stop" })) stopBtn.disabled = true;
    });
  }

  const del = document.getElementById("chat-delete-form");
  if (del) {
    del.addEventListener("submit", (event) => {
      if (!window.confirm(del.dataset.confirm)) event.preventDefault();
      else gone = true;
    });
  }

  // Keep the connection alive through proxies that drop quiet sockets, and notice dead ones.
  setInterval(() => {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "ping" }));
  }, 25000);

  // For the console and tests: drop the connection as a network failure would.
  window.auroraChat = { drop() { if (ws) ws.close(); } };

  updateControls();
  connect();
})();
