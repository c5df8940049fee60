// Plays the Portcullis web page in a real Chromium, for the Rust web tests.
//
//   node tests/browser/webplay.mjs '{"url": "https://127.0.0.1:PORT/", "name": "webby",
//     "password": "secret-pass-1", "say": "hello from the browser", "expect": "optional text",
//     "block_websocket": false, "screenshot": "/tmp/out.png", "timeout_ms": 20000}'
//
// Creates (or, if the name is taken, connects to) the account, says the line, waits for the
// echo and for `expect`, runs `steps`, takes a screenshot and prints ONE JSON report line:
//   {"ok": true, "transport": "websocket"|"ajax", "output": "<the output pane's text>", ...}
//   {"ok": false, "error": "...", "output": "..."}              (exit code 1)
// With block_websocket the page's WebSocket fails before it opens, so the page must fall back
// to long-poll. Needs `npm ci` in tests/browser and Chromium (CHROMIUM, default /usr/bin/chromium).
//
// Optional:
//   "say"      may be left out (nothing said after login).
//   "phone":   true: a 390x844 touch screen (isMobile, hasTouch, scale 3), lines sent by
//              tapping Send.
//   "login":   "prompted": log in by typing the name and answering the questions (the new
//              account's password is typed at masked prompts); the report's "masked" has what
//              the page showed at the password prompt, "unmasked" the input after login.
//   "steps":   run in order after login (and after say/expect), each an object:
//     {"send": "line"}              type a line and press Enter (or tap Send)
//     {"expect": "text"}            wait for text in the output after the last send
//     {"expect": "text", "anywhere": true}   ... anywhere in the output
//     {"state": "connected"}        wait until document.body.dataset.state is this
//     {"status": "text"}            wait until the status line contains this
//     {"sync": "name"}              print {"step": "name", "output": ...} and wait for a line on
//                                   stdin before going on (the Rust test acts meanwhile)
//     {"check": "phone"|"a11y"}     measure the page; the facts go in the report's "checks"
//     {"screenshot": "/path.png"}
// The report also has "states" (every document.body.dataset.state, in order), "sessions"
// (each WebSocket "session" message's kwargs, or /ajax/open answer) and "server_status" (the
// values received).
import { chromium } from "playwright-core";

const cfg = JSON.parse(process.argv[2] ?? "{}");
const timeoutMs = Number(cfg.timeout_ms ?? 20000);
const deadline = Date.now() + timeoutMs;
const remaining = () => Math.max(1, deadline - Date.now());

let browser = null;
let page = null;
let lastOutput = "";
let printed = false;
const consoleErrors = [];
const sessions = [];
const serverStatus = [];
const checks = {};

function report(result) {
  if (printed) return;
  printed = true;
  process.stdout.write(JSON.stringify(result) + "\n");
}

// Whatever hangs (the browser, a screenshot, closing), end within timeout_ms + 10 s.
setTimeout(() => {
  report({ ok: false, error: "webplay did not finish in time", output: lastOutput });
  process.exit(1);
}, timeoutMs + 8000).unref();

/** The output pane's text, one line per output block. */
async function outputText() {
  if (!page) return lastOutput;
  try {
    lastOutput = await page.$$eval("#output .line", (els) => els.map((e) => e.textContent).join("\n"));
  } catch { /* page gone: keep the last one read */ }
  return lastOutput;
}

/** Waits until the output after character `from` satisfies test (a RegExp or a string). */
async function waitOutput(test, what, from = 0) {
  for (;;) {
    const text = (await outputText()).slice(from);
    const m = typeof test === "string" ? (text.includes(test) ? [test] : null) : text.match(test);
    if (m) return m;
    if (Date.now() >= deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until fn (run in the page with arg) is true. */
async function waitPage(fn, arg, what) {
  try {
    await page.waitForFunction(fn, arg, { timeout: remaining(), polling: 50 });
  } catch (e) {
    throw new Error(`timed out waiting for ${what}`, { cause: e });
  }
}

/** Types a line into the page's input and presses Enter (taps Send on a phone); returns the
 * output length before. */
async function send(line) {
  const before = (await outputText()).length;
  await page.fill("#input", line, { timeout: remaining() });
  if (cfg.phone) await page.getByRole("button", { name: "Send" }).tap({ timeout: remaining() });
  else await page.press("#input", "Enter", { timeout: remaining() });
  return before;
}

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/* ---------------------------------------------------------------- stdin (sync steps) */

const stdinLines = [];
let stdinWake = null;
let stdinEnded = false;
let stdinOpen = false;

function openStdin() {
  if (stdinOpen) return;
  stdinOpen = true;
  let buf = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (d) => {
    buf += d;
    for (let i; (i = buf.indexOf("\n")) >= 0; buf = buf.slice(i + 1)) stdinLines.push(buf.slice(0, i));
    stdinWake?.();
  });
  process.stdin.on("end", () => { stdinEnded = true; stdinWake?.(); });
}

async function readStdinLine(what) {
  openStdin();
  while (!stdinLines.length) {
    if (stdinEnded) throw new Error(`stdin closed while waiting to go on after ${what}`);
    if (Date.now() >= deadline) throw new Error(`timed out waiting on stdin after ${what}`);
    await new Promise((r) => {
      stdinWake = r;
      setTimeout(r, Math.min(remaining(), 1000));
    });
    stdinWake = null;
  }
  return stdinLines.shift();
}

/* ---------------------------------------------------------------- checks */

/** The accessible name, description and role Chromium computes for the element at selector. */
async function axOf(selector) {
  const cdp = await page.context().newCDPSession(page);
  try {
    await cdp.send("Accessibility.enable");
    const { root } = await cdp.send("DOM.getDocument", { depth: 0 });
    const { nodeId } = await cdp.send("DOM.querySelector", { nodeId: root.nodeId, selector });
    const { nodes } = await cdp.send("Accessibility.getPartialAXTree", { nodeId, fetchRelatives: false });
    const n = nodes[0] ?? {};
    return { role: n.role?.value, name: n.name?.value, description: n.description?.value };
  } finally {
    await cdp.detach().catch(() => {});
  }
}

/** What the input looks like to a screen reader now: type, describedby text, AX facts. */
async function inputFacts() {
  const input = page.getByLabel("Command");
  const dom = await input.evaluate((el) => {
    const ids = (el.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
    return {
      id: el.id,
      type: el.type,
      describedby: ids,
      described_text: ids.map((id) => document.getElementById(id)?.textContent ?? "").join(" "),
      prompt: document.getElementById("prompt").textContent,
    };
  }, null, { timeout: remaining() });
  return { ...dom, ax: await axOf("#input") };
}

async function checkA11y() {
  const count = async (loc) => loc.count();
  const log = page.getByRole("log");
  return {
    log_count: await count(log),
    status_count: await count(page.getByRole("status")),
    command_count: await count(page.getByLabel("Command")),
    send_count: await count(page.getByRole("button", { name: "Send" })),
    textbox_command_count: await count(page.getByRole("textbox", { name: "Command" })),
    log_id: await log.first().getAttribute("id"),
    log_aria_live: await log.first().getAttribute("aria-live"),
    log_ax: await axOf("#output"),
    status_text: await page.getByRole("status").first().textContent(),
    input: await inputFacts(),
  };
}

async function checkPhone() {
  return page.evaluate(() => {
    const box = (el) => {
      const b = el.getBoundingClientRect();
      return { left: b.left, right: b.right, top: b.top, bottom: b.bottom };
    };
    const de = document.documentElement;
    const out = document.getElementById("output");
    const input = document.getElementById("input");
    const last = out.lastElementChild;
    return {
      viewport: { width: window.innerWidth, height: window.innerHeight },
      doc: { scroll_width: de.scrollWidth, client_width: de.clientWidth, body_scroll_width: document.body.scrollWidth },
      window_scroll_x_max: de.scrollWidth - window.innerWidth,
      input: box(input),
      send: box(document.getElementById("send")),
      input_font_px: parseFloat(getComputedStyle(input).fontSize),
      output: { scroll_height: out.scrollHeight, client_height: out.clientHeight, scroll_top: out.scrollTop, box: box(out) },
      last_line: last ? { box: box(last), text: last.textContent } : null,
      lines: out.childElementCount,
    };
  });
}

/* ---------------------------------------------------------------- the run */

async function prompted(name, password) {
  const promptIs = (re) => waitPage((src) => new RegExp(src, "i").test(document.getElementById("prompt").textContent),
    re.source, `a prompt like ${re}`);
  await send(name);
  await promptIs(/Create it\?/);
  await send("yes");
  await promptIs(/Choose a password/);
  await waitPage(() => document.getElementById("input").type === "password", null, "the input to be masked");
  const masked = await inputFacts();
  await send(password);
  await promptIs(/Repeat the password/);
  const from = await send(password);
  await waitOutput(new RegExp(`Welcome, ${escapeRe(name)}\\b`, "i"), "the welcome", from);
  await waitPage(() => document.getElementById("input").type === "text", null, "the input to be unmasked");
  return { masked, unmasked: await inputFacts() };
}

async function runSteps(steps) {
  let from = (await outputText()).length;
  for (const step of steps) {
    if (step.send !== undefined) from = await send(step.send);
    else if (step.expect !== undefined) await waitOutput(step.expect, `"${step.expect}"`, step.anywhere ? 0 : from);
    else if (step.state !== undefined) {
      await waitPage((s) => document.body.dataset.state === s, step.state, `state ${step.state}`);
    } else if (step.status !== undefined) {
      await waitPage((s) => document.getElementById("status").textContent.includes(s), step.status, `status "${step.status}"`);
    } else if (step.sync !== undefined) {
      process.stdout.write(JSON.stringify({ step: step.sync, output: await outputText() }) + "\n");
      await readStdinLine(step.sync);
    } else if (step.press !== undefined) {
      // A key in the input line (history: ArrowUp / ArrowDown).
      await page.press("#input", step.press, { timeout: remaining() });
    } else if (step.input_is !== undefined) {
      await waitPage((v) => document.getElementById("input").value === v, step.input_is,
        `the input to read "${step.input_is}"`);
    } else if (step.check === "colours") {
      // What the ANSI colours became on the page: computed colours of the output's spans.
      checks.colours = await page.evaluate(() => {
        const spans = [...document.querySelectorAll("#output .line span")];
        const plain = getComputedStyle(document.getElementById("output")).color;
        return {
          spans: spans.length,
          coloured: spans.filter((s) => getComputedStyle(s).color !== plain).map((s) => ({
            text: s.textContent.slice(0, 40), color: getComputedStyle(s).color,
          })).slice(0, 40),
        };
      });
    } else if (step.reload) {
      // The player reloads the page (F5): a new page, the same browser tab's sessionStorage.
      await page.reload({ timeout: remaining() });
      from = 0;
    } else if (step.check === "phone") checks.phone = await checkPhone();
    else if (step.check === "a11y") checks.a11y = await checkA11y();
    else if (step.screenshot) {
      await page.screenshot({ path: step.screenshot, timeout: Math.min(remaining(), 5000) });
    } else throw new Error(`unknown step ${JSON.stringify(step)}`);
  }
}

async function play() {
  const { url, name, password, say } = cfg;
  if (!url || !name || !password) throw new Error("config needs url, name and password");
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    timeout: remaining(),
  });
  const options = cfg.phone
    ? { viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true,
      userAgent: "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36" }
    : { viewport: { width: 900, height: 600 } };
  const context = await browser.newContext({ ignoreHTTPSErrors: true, ...options });
  // Every state the page goes through, even for a moment.
  await context.addInitScript(() => {
    window.__states = [];
    new MutationObserver(() => {
      const s = document.body?.dataset.state;
      if (s && window.__states[window.__states.length - 1] !== s) window.__states.push(s);
    }).observe(document, { attributes: true, subtree: true, attributeFilter: ["data-state"] });
  });
  page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  const seen = (msg) => {
    if (msg?.[0] === "session") sessions.push(msg[2] ?? {});
    else if (msg?.[0] === "server_status") serverStatus.push(msg[1]?.[0]);
  };
  page.on("websocket", (ws) => ws.on("framereceived", ({ payload }) => {
    try { seen(JSON.parse(String(payload))); } catch { /* not JSON */ }
  }));
  page.on("response", async (r) => {
    if (!r.ok()) return;
    try {
      if (r.url().endsWith("/ajax/open")) sessions.push(await r.json());
      else if (r.url().endsWith("/ajax/poll")) for (const m of await r.json()) seen(m);
    } catch { /* the page went away, or not JSON */ }
  });
  if (cfg.block_websocket) {
    // The page's WebSocket to /ws is closed before it opens (Chromium's request blocking does
    // not apply to WebSockets), as when a proxy refuses upgrades: the page must use long-poll.
    await page.routeWebSocket(/\/ws(\?|$)/, (ws) => ws.close({ code: 1011, reason: "blocked by webplay" }));
  }
  await page.goto(url, { timeout: remaining() });
  await waitOutput(/connect\b.*<name>|Welcome to/is, "the connection screen");
  await page.waitForFunction(() => document.body.dataset.state === "connected", null, { timeout: remaining() });

  const welcome = new RegExp(`Welcome, ${escapeRe(name)}\\b`, "i");
  const refused = /Wrong name or password|Too many|New accounts are made by the operator|not accepted/i;
  let login = {};
  if (cfg.login === "prompted") {
    login = await prompted(name, password);
  } else {
    let from = await send(`create ${name} ${password}`);
    const [got] = await waitOutput(new RegExp(`${welcome.source}|already taken|already exists|${refused.source}`, "i"),
      "the answer to create", from);
    if (!welcome.test(got)) {
      if (refused.test(got)) throw new Error(`create refused: ${got}`);
      from = await send(`connect ${name} ${password}`);
      const [again] = await waitOutput(new RegExp(`${welcome.source}|${refused.source}`, "i"), "the login", from);
      if (!welcome.test(again)) throw new Error(`login refused: ${again}`);
    }
  }

  if (say) {
    const from = await send(`say ${say}`);
    await waitOutput(`You say, "${say}"`, "the echo of say", from);
  }
  if (cfg.expect) await waitOutput(cfg.expect, `"${cfg.expect}"`);
  await runSteps(cfg.steps ?? []);
  const transport = await page.evaluate(() => document.body.dataset.transport);
  const states = await page.evaluate(() => window.__states);
  const status = await page.locator("#status").textContent();
  if (cfg.screenshot) await page.screenshot({ path: cfg.screenshot, fullPage: true, timeout: Math.min(remaining(), 5000) });
  report({ ok: true, transport, status, states, sessions, server_status: serverStatus, checks, ...login,
    output: await outputText() });
}

async function closeBrowser() {
  if (!browser) return;
  await Promise.race([browser.close().catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
}

try {
  await play();
  await closeBrowser();
  process.exit(0);
} catch (e) {
  const output = await Promise.race([outputText(), new Promise((r) => setTimeout(() => r(lastOutput), 2000))]);
  if (page && cfg.screenshot) {
    await page.screenshot({ path: cfg.screenshot, fullPage: true, timeout: 3000 }).catch(() => {});
  }
  const states = page ? await page.evaluate(() => window.__states).catch(() => null) : null;
  const error = String(e?.message ?? e).split("\n")[0] + (consoleErrors.length ? ` (page console: ${consoleErrors.slice(0, 5).join(" | ")})` : "");
  report({ ok: false, error, states, sessions, checks, output });
  await closeBrowser();
  process.exit(1);
}
