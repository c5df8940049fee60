// Portcullis web client. Talks to the portal over a WebSocket (/ws), or over long-poll HTTP
// (/ajax/*) when the first WebSocket never opens, and shows the game's output.
// Messages both ways are JSON arrays [name, [args...], {kwargs...}]; docs/webclient.md has the contract.
import { AnsiParser, parseAnsi, toFragment } from "./ansi.js";

const MAX_LINES = 5000;      // scroll-back kept
const MAX_HISTORY = 200;     // input history kept
const MAX_QUEUE = 100;       // lines kept while there is no connection
const WS_OPEN_TIMEOUT = 4000;
const BACKOFF_MIN = 500;
const BACKOFF_MAX = 5000;
const TOKEN_KEY = "portcullis.token";
const SEEN_KEY = "portcullis.seen";

const $ = (id) => document.getElementById(id);
const output = $("output");
const form = $("input-form");
const input = $("input");
const promptEl = $("prompt");
const statusEl = $("status");
const reconnectBtn = $("reconnect");
const newOutputBtn = $("new-output");

/* ---------------------------------------------------------------- output */

const parser = new AnsiParser(); // one SGR state for the whole stream
let atBottom = true;             // follow new output unless the user scrolled up

// New lines are collected and put on the page once per animation frame: reading the layout
// (to follow the bottom) after every one of thousands of lines would be far too slow.
let pending = document.createDocumentFragment();
let renderQueued = false;

/** Adds one block (a node, or plain text) as a .line. */
function addLine(content, cls) {
  const div = document.createElement("div");
  div.className = cls ? "line " + cls : "line";
  if (typeof content === "string") div.textContent = content;
  else div.appendChild(content);
  pending.appendChild(div);
  if (pending.childNodes.length > MAX_LINES) pending.firstChild.remove(); // e.g. a hidden tab
  if (!renderQueued) {
    renderQueued = true;
    requestAnimationFrame(render);
  }
}

function render() {
  renderQueued = false;
  output.appendChild(pending);
  pending = document.createDocumentFragment();
  const excess = output.childElementCount - MAX_LINES;
  if (excess > 0) {
    const before = atBottom ? 0 : output.scrollHeight;
    const range = document.createRange();
    range.setStartBefore(output.firstElementChild);
    range.setEndAfter(output.children[excess - 1]);
    range.deleteContents();
    // Keep what the user is reading in place when lines vanish above it.
    if (!atBottom) output.scrollTop -= before - output.scrollHeight;
  }
  if (atBottom) output.scrollTop = output.scrollHeight;
  else newOutputBtn.hidden = false;
}

const showText = (text) => addLine(toFragment(parser.feed(text)));
const note = (text, cls = "info") => addLine(text, cls);

output.addEventListener("scroll", () => {
  atBottom = output.scrollHeight - output.scrollTop - output.clientHeight < 8;
  if (atBottom) newOutputBtn.hidden = true;
});
newOutputBtn.addEventListener("click", () => {
  atBottom = true;
  output.scrollTop = output.scrollHeight;
  newOutputBtn.hidden = true;
  input.focus();
});
// Clicking the output (without selecting text) goes back to typing, on desktops.
output.addEventListener("click", () => {
  if (matchMedia("(pointer: fine)").matches && !String(getSelection())) input.focus();
});

/* ---------------------------------------------------------------- input */

const history = [];
let histPos = 0;      // == history.length while editing a new line
let draft = "";       // the new line, kept while browsing history
let masked = false;   // password entry: no echo, no history
let swallowBlank = false;

function setMasked(on) {
  if (masked === on) return;
  masked = on;
  input.type = on ? "password" : "text";
}

function remember(line) {
  if (line.trim() && history[history.length - 1] !== line) {
    history.push(line);
    if (history.length > MAX_HISTORY) history.shift();
  }
  histPos = history.length;
  draft = "";
}

// "connect <name> <password>", "create <name> <password>" and "password <old> <new>" are
// echoed with the password(s) hidden, and kept out of the history.
function hidePassword(line) {
  const m = /^(\s*(?:connect|create)\s+\S+\s+)\S/i.exec(line) || /^(\s*password\s+)\S/i.exec(line);
  return m ? m[1] + "••••••••" : undefined;
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  const line = input.value;
  const prompt = promptEl.textContent;
  input.value = "";
  promptEl.replaceChildren();
  if (masked) {
    // Show the prompt that was answered, never the answer. The server ends the hidden
    // line with an empty text block (telnet needs it); that one is not shown.
    if (prompt) note(prompt, "echo");
    swallowBlank = true;
  } else {
    const hidden = hidePassword(line);
    note(prompt + (hidden ?? line), "echo");
    if (hidden === undefined) remember(line);
  }
  atBottom = true; // typing a command follows the output again
  sendLine(line);
});

input.addEventListener("keydown", (e) => {
  if (masked || e.isComposing || e.altKey || e.ctrlKey || e.metaKey) return;
  if (e.key === "ArrowUp" && histPos > 0) {
    if (histPos === history.length) draft = input.value;
    input.value = history[--histPos];
  } else if (e.key === "ArrowDown" && histPos < history.length) {
    input.value = ++histPos === history.length ? draft : history[histPos];
  } else return;
  e.preventDefault();
  const end = input.value.length;
  input.setSelectionRange(end, end);
});

/* ---------------------------------------------------------------- connection state */

let transport = "websocket"; // "ajax" once the first WebSocket failed to open
let state = "connecting";
let reason = "";             // why we are disconnected
let serverStatus = "running";
let token = readToken();
let graceSecs = 60;
let pollSecs = 25;
let pollAck = 0;             // the last long-poll batch handled (see ajax.rs)
let generation = 0;          // bumped to disown callbacks of an abandoned connection
let wsEverOpened = false;
let ws = null;
let backoff = BACKOFF_MIN;
let retryTimer = 0;
let lostAt = 0;              // when the connection dropped
let expectResume = false;    // we asked to resume a session
let lostSession = false;     // we gave up on resuming (grace passed)
// Nothing is lost with a dropped connection: messages are counted both ways (per session).
let seen = 0;                // messages received, all but "session"; acknowledged to the portal
let ackedSeen = 0;
let sentNo = 0;              // input messages numbered so far (all but hello and ack)
const kept = [];             // input sent over the WebSocket, kept (last MAX_QUEUE) to send again
const queue = [];            // ["text", [line], {}] waiting to be sent, oldest first
const control = [];          // hello and other non-line messages waiting (long-poll only)

function readToken() {
  try { return sessionStorage.getItem(TOKEN_KEY); } catch { return null; }
}
// A reloaded page resumes its session knowing how much of it the last page showed.
function saveSeen() {
  try { sessionStorage.setItem(SEEN_KEY, String(seen)); } catch { /* no storage */ }
}
try { if (token) seen = Number(sessionStorage.getItem(SEEN_KEY)) || 0; } catch { /* none */ }
window.addEventListener("pagehide", saveSeen);
function setToken(t) {
  token = t;
  try {
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage disabled: no resume across reloads */ }
}

function setState(s) {
  state = s;
  document.body.dataset.state = s;
  document.body.dataset.transport = transport;
  reconnectBtn.hidden = s !== "disconnected";
  renderStatus();
}

function renderStatus() {
  let text;
  if (state === "connecting") text = "Connecting…";
  else if (state === "reconnecting") text = "Connection lost, reconnecting…";
  else if (state === "disconnected") text = "Disconnected: " + reason;
  else if (serverStatus !== "running") text = "The server is restarting; your input is kept";
  else text = transport === "websocket" ? "Connected (WebSocket)" : "Connected (long-poll)";
  if (state !== "connected" && queue.length) {
    text += ` (${queue.length} line${queue.length === 1 ? "" : "s"} waiting)`;
  }
  statusEl.textContent = text;
}

function connect() {
  clearTimeout(retryTimer);
  expectResume = Boolean(token) || lostSession;
  if (transport === "websocket") connectWs();
  else openAjax();
}

/** The connection dropped (not a "disconnect" message): retry with backoff. */
function dropped() {
  if (state !== "reconnecting") {
    lostAt = Date.now();
    setState("reconnecting");
  }
  clearTimeout(retryTimer);
  retryTimer = setTimeout(() => {
    // Past the grace period the old session is gone: start a new one.
    if (token && Date.now() - lostAt > graceSecs * 1000) {
      setToken(null);
      lostSession = true;
    }
    connect();
  }, backoff);
  backoff = Math.min(backoff * 2, BACKOFF_MAX);
}

function connected() {
  backoff = BACKOFF_MIN;
  lostSession = false;
  setState("connected");
  flush();
}

/** The portal ended the session, or it is gone: stop, show why, offer "Connect again". */
function ended(why) {
  generation++;
  clearTimeout(retryTimer);
  if (ws) ws.close();
  ws = null;
  setToken(null);
  lostSession = false;
  control.length = 0;
  reason = why || "the session has ended";
  // Lines meant for the session that ended are not sent to the next one.
  if (queue.length) {
    note(`${queue.length} line${queue.length === 1 ? " was" : "s were"} not sent.`);
    queue.length = 0;
  }
  serverStatus = "running";
  setMasked(false);
  promptEl.replaceChildren();
  note("Disconnected: " + reason);
  setState("disconnected");
}

reconnectBtn.addEventListener("click", () => {
  backoff = BACKOFF_MIN;
  setState("connecting");
  connect();
  input.focus();
});

/* ---------------------------------------------------------------- sending */

function sendLine(line) {
  if (queue.length >= MAX_QUEUE) {
    note(`Not sent: ${MAX_QUEUE} lines are already waiting for the connection.`, "error");
    return;
  }
  queue.push(["text", [line], {}]);
  if (state === "connected") flush();
  else renderStatus();
}

/** Sends a non-line message now if connected (long-poll: soon); dropped otherwise. */
function sendControl(msg) {
  if (transport === "websocket") {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  } else if (state === "connected") {
    control.push(msg);
    flush();
  }
}

function flush() {
  if (state !== "connected") return;
  if (transport === "ajax") { ajaxFlush(); return; }
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  while (queue.length) {
    const msg = queue.shift();
    if (msg.no === undefined) msg.no = ++sentNo; // (not part of the JSON)
    kept.push(msg);
    if (kept.length > MAX_QUEUE) kept.shift();
    ws.send(JSON.stringify(msg));
  }
}

/** Tells the portal how many messages have arrived, so it can stop keeping them. */
function sendAck() {
  if (transport !== "websocket" || !ws || ws.readyState !== WebSocket.OPEN) return;
  ws.send(JSON.stringify(["ack", [seen], {}]));
  ackedSeen = seen;
  saveSeen();
}
setInterval(() => { if (seen > ackedSeen) sendAck(); }, 2000);

/* ---------------------------------------------------------------- terminal size, hello */

const probe = document.createElement("span");
probe.className = "measure";
probe.setAttribute("aria-hidden", "true");
probe.textContent = "0".repeat(10);
output.parentElement.appendChild(probe);
let lastSize = "";

function termSize() {
  const box = probe.getBoundingClientRect();
  const cw = box.width / 10 || 8;
  const ch = box.height || 18;
  const cs = getComputedStyle(output);
  const w = output.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  const h = output.clientHeight - parseFloat(cs.paddingTop) - parseFloat(cs.paddingBottom);
  return { width: Math.max(20, Math.floor(w / cw)), height: Math.max(5, Math.floor(h / ch)) };
}

function hello() {
  const size = termSize();
  lastSize = `${size.width}x${size.height}`;
  return ["hello", [], { client: "Portcullis web", version: "1", ...size, screenreader: false }];
}
const sendHello = () => sendControl(hello());

let resizeTimer = 0;
new ResizeObserver(() => {
  if (atBottom) output.scrollTop = output.scrollHeight; // e.g. the phone keyboard opened
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    const size = termSize();
    if (state === "connected" && `${size.width}x${size.height}` !== lastSize) sendHello();
  }, 300);
}).observe(output);

/* ---------------------------------------------------------------- incoming messages */

function handle(msg) {
  if (!(Array.isArray(msg) && msg[0] === "session")) seen++;
  if (!Array.isArray(msg) || typeof msg[0] !== "string") return;
  const name = msg[0];
  const args = Array.isArray(msg[1]) ? msg[1] : [];
  const kwargs = msg[2] && typeof msg[2] === "object" ? msg[2] : {};
  switch (name) {
    case "session": onSession(kwargs); break;
    case "text":
      // The empty block that ends a hidden password line is not shown (see submit).
      if (swallowBlank && args.every((a) => a === "")) { swallowBlank = false; break; }
      swallowBlank = false;
      for (const a of args) showText(String(a));
      break;
    case "prompt":
      promptEl.replaceChildren(toFragment(parseAnsi(args.map(String).join(""))));
      break;
    case "server_status":
      serverStatus = String(args[0] ?? "running");
      renderStatus();
      break;
    case "disconnect": ended(String(args[0] ?? "")); return;
    case "error": note("Error: " + args.map(String).join(" "), "error"); break;
    default:
      window.dispatchEvent(new CustomEvent("portcullis:oob", { detail: { name, args, kwargs } }));
  }
  // echo:false on any message masks the input (password); echo:true unmasks it.
  if (kwargs.echo === false) setMasked(true);
  else if (kwargs.echo === true) setMasked(false);
}

function onSession(kw) {
  if (typeof kw.token === "string" && kw.token) setToken(kw.token);
  if (typeof kw.name === "string" && kw.name) {
    // The world's name ([server] name), as text only.
    document.title = kw.name;
    const h1 = document.querySelector("h1.title");
    if (h1) h1.textContent = kw.name;
  }
  if (kw.grace_secs > 0) graceSecs = kw.grace_secs;
  if (kw.poll_secs > 0) pollSecs = kw.poll_secs;
  if (expectResume && kw.resumed === false) {
    note("The old session had ended; this is a new one.");
    // Lines meant for the old session (maybe a password) must not reach a login screen.
    if (queue.length) {
      note(`${queue.length} line${queue.length === 1 ? " was" : "s were"} not sent.`);
      queue.length = 0;
    }
    setMasked(false);
    promptEl.replaceChildren();
  }
  expectResume = false;
  if (kw.resumed !== true) {
    seen = ackedSeen = sentNo = 0;
    kept.length = 0;
    saveSeen();
  } else if (typeof kw.input_seen === "number") {
    // A reloaded page starts numbering where the portal's count is.
    sentNo = Math.max(sentNo, kw.input_seen);
    if (transport === "websocket") {
      // Lines the portal never got (lost with the last connection) go again, first.
      const missing = kept.filter((m) => m.no > kw.input_seen);
      kept.length = 0;
      for (const m of missing) { kept.push(m); ws.send(JSON.stringify(m)); }
    }
  }
  if (transport === "websocket") sendAck(); // also asks the portal to keep what it sends
  if (state !== "connected") connected();
}

/* ---------------------------------------------------------------- WebSocket */

function connectWs() {
  const gen = ++generation;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const query = token ? `?token=${encodeURIComponent(token)}&seen=${seen}` : "";
  let opened = false;
  let sock;
  const failed = () => {
    if (gen !== generation) return;
    generation++;
    clearTimeout(timer);
    ws = null;
    sock?.close();
    // The very first WebSocket of this page never opened: use long-poll from now on.
    if (!opened && !wsEverOpened) {
      transport = "ajax";
      document.body.dataset.transport = transport;
      openAjax();
    } else {
      dropped();
    }
  };
  const timer = setTimeout(() => { if (!opened) failed(); }, WS_OPEN_TIMEOUT);
  try {
    sock = ws = new WebSocket(`${scheme}//${location.host}/ws${query}`);
  } catch {
    failed();
    return;
  }
  sock.onopen = () => {
    if (gen !== generation) return;
    opened = wsEverOpened = true;
    clearTimeout(timer);
    sendHello();
  };
  sock.onmessage = (e) => {
    if (gen !== generation) return;
    let msg;
    try { msg = JSON.parse(e.data); } catch { return; }
    if (state !== "connected" && msg?.[0] !== "session") connected(); // a server without "session"
    handle(msg);
  };
  sock.onclose = failed;
}

/* ---------------------------------------------------------------- long-poll */

let inflight = false;

function post(path, body, signal, extra = {}) {
  const headers = { "Content-Type": "application/json", ...extra };
  if (token) headers["X-Portcullis-Token"] = token;
  return fetch(path, { method: "POST", headers, body, signal, cache: "no-store", credentials: "same-origin" });
}

async function errorOf(res) {
  try { return (await res.json()).error || `HTTP ${res.status}`; } catch { return `HTTP ${res.status}`; }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Answers that mean the session cannot go on; anything else (5xx, 429, network) is retried.
const fatal = (status) => status === 400 || status === 403 || status === 404 || status === 410;

async function openAjax() {
  const gen = ++generation;
  let res;
  try {
    res = await post("/ajax/open", token ? JSON.stringify({ token }) : "");
  } catch { res = null; }
  if (gen !== generation) return;
  if (res && fatal(res.status)) { ended(await errorOf(res)); return; }
  let info = null;
  if (res && res.ok) { try { info = await res.json(); } catch { /* retried below */ } }
  if (gen !== generation) return;
  if (!info || !info.token) { dropped(); return; }
  control.length = 0;
  control.push(hello()); // goes out first, before any queued line
  if (!info.resumed) pollAck = 0;
  onSession({ ...info, protocol: "webclient/ajax" });
  poll(gen);
}

async function poll(gen) {
  let delay = BACKOFF_MIN;
  const retry = async () => {
    await sleep(delay);
    delay = Math.min(delay * 2, BACKOFF_MAX);
  };
  while (gen === generation) {
    if (state !== "connected") {
      // After a failure, first ask whether the portal is back with a request answered at
      // once (a hello): a poll could be held for poll_secs before it said so.
      let res = null;
      try { res = await post("/ajax/input", JSON.stringify([hello()])); } catch { /* below */ }
      if (gen !== generation) return;
      if (res && fatal(res.status)) { ended(await errorOf(res)); return; }
      if (!res || !res.ok) { await retry(); continue; }
      delay = BACKOFF_MIN;
      connected();
    }
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), (pollSecs + 15) * 1000);
    let res = null, msgs = null;
    try {
      // The ack names the last batch handled; one lost on the way is sent again.
      res = await post("/ajax/poll", "", abort.signal, { "X-Portcullis-Ack": String(pollAck) });
      if (res.ok) msgs = await res.json();
    } catch { /* network error or timeout: retried below */ }
    clearTimeout(timer);
    if (gen !== generation) return;
    if (res && fatal(res.status)) { ended(await errorOf(res)); return; }
    if (Array.isArray(msgs)) {
      delay = BACKOFF_MIN;
      const batch = Number(res.headers.get("X-Portcullis-Batch"));
      if (batch > 0) pollAck = batch;
      for (const m of msgs) {
        handle(m);
        if (gen !== generation) return; // a "disconnect" ended it
      }
      continue;
    }
    if (state === "connected") { lostAt = Date.now(); setState("reconnecting"); }
    await retry();
  }
}

/** Posts waiting messages, one request at a time so their order is kept. */
async function ajaxFlush() {
  if (inflight || state !== "connected" || (!queue.length && !control.length)) return;
  const gen = generation;
  const ctl = control.splice(0);
  const lines = queue.splice(0);
  // Numbered once, so a request sent again after a lost answer is not taken twice.
  for (const l of lines) if (l.no === undefined) l.no = ++sentNo;
  const extra = lines.length ? { "X-Portcullis-Input-Seq": String(lines[0].no) } : {};
  inflight = true;
  let res = null;
  try {
    res = await post("/ajax/input", JSON.stringify([...ctl, ...lines]), undefined, extra);
  } catch { /* below */ }
  inflight = false;
  // Sent, or meant for a connection that is gone: go on with what is waiting now.
  if (gen !== generation || (res && res.ok)) { ajaxFlush(); return; }
  if (res && (res.status === 400 || res.status === 413)) {
    note("Error: " + (await errorOf(res)), "error"); // refused: resending would not help
    ajaxFlush();
    return;
  }
  if (res && fatal(res.status)) { ended(await errorOf(res)); return; }
  // Not delivered: put the messages back in front and try again a little later.
  control.unshift(...ctl);
  queue.unshift(...lines);
  renderStatus();
  setTimeout(ajaxFlush, BACKOFF_MAX / 2);
}

/* ---------------------------------------------------------------- start */

setState("connecting");
input.focus();
connect();
