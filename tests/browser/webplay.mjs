// Plays the Portcullis web page in a real Chromium, for the Rust web tests.
//
//   node tests/browser/webplay.mjs '{"url": "https://127.0.0.1:PORT/", "name": "webby",
//     "password": "secret-pass-1", "say": "hello from the browser", "expect": "optional text",
//     "block_websocket": false, "screenshot": "/tmp/out.png", "timeout_ms": 20000}'
//
// Creates (or, if the name is taken, connects to) the account, says the line, waits for the
// echo and for `expect`, takes a screenshot and prints ONE JSON line:
//   {"ok": true, "transport": "websocket"|"ajax", "output": "<the output pane's text>"}
//   {"ok": false, "error": "...", "output": "..."}              (exit code 1)
// With block_websocket the page's WebSocket fails before it opens, so the page must fall back
// to long-poll. Needs `npm ci` in tests/browser and Chromium (CHROMIUM, default /usr/bin/chromium).
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

/** Types a line into the page's input and presses Enter; returns the output length before. */
async function send(line) {
  const before = (await outputText()).length;
  await page.fill("#input", line, { timeout: remaining() });
  await page.press("#input", "Enter", { timeout: remaining() });
  return before;
}

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

async function play() {
  const { url, name, password, say } = cfg;
  if (!url || !name || !password || !say) throw new Error("config needs url, name, password and say");
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    timeout: remaining(),
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 900, height: 600 } });
  page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
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
  let from = await send(`create ${name} ${password}`);
  const [got] = await waitOutput(new RegExp(`${welcome.source}|already taken|already exists|${refused.source}`, "i"),
    "the answer to create", from);
  if (!welcome.test(got)) {
    if (refused.test(got)) throw new Error(`create refused: ${got}`);
    from = await send(`connect ${name} ${password}`);
    const [again] = await waitOutput(new RegExp(`${welcome.source}|${refused.source}`, "i"), "the login", from);
    if (!welcome.test(again)) throw new Error(`login refused: ${again}`);
  }

  from = await send(`say ${say}`);
  await waitOutput(`You say, "${say}"`, "the echo of say", from);
  if (cfg.expect) await waitOutput(cfg.expect, `"${cfg.expect}"`);
  const transport = await page.evaluate(() => document.body.dataset.transport);
  if (cfg.screenshot) await page.screenshot({ path: cfg.screenshot, fullPage: true, timeout: Math.min(remaining(), 5000) });
  report({ ok: true, transport, output: await outputText() });
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
  const error = String(e?.message ?? e).split("\n")[0] + (consoleErrors.length ? ` (page console: ${consoleErrors.slice(0, 5).join(" | ")})` : "");
  report({ ok: false, error, output });
  await closeBrowser();
  process.exit(1);
}
