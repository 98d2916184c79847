// Dashboard first render in headless Chromium, over the DevTools protocol.
//
//     node --experimental-websocket scripts/bench_dashboard.mjs http://127.0.0.1:PORT/ [runs]
//
// Each run starts a fresh Chromium (empty profile, so nothing is cached), loads the page and waits
// until the page marks its first complete render (`document.body.dataset.ready`, set once the
// charts, the table and the alerts are drawn). Printed: the time from navigation start to that
// mark (`performance.now()` in the page), and the bytes the page transferred (compressed where the
// server compresses).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const url = process.argv[2];
const runs = Number(process.argv[3] || 5);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function once() {
  const profile = mkdtempSync(join(tmpdir(), "coinpulse-chromium-"));
  const chrome = spawn("/usr/bin/chromium", [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
    "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--window-size=1280,1600",
    `--user-data-dir=${profile}`, "about:blank",
  ], { stdio: "ignore" });
  try {
    let port;
    for (let i = 0; i < 300 && !port; i++) {
      try { port = readFileSync(join(profile, "DevToolsActivePort"), "utf8").split("\n")[0]; } catch { await sleep(100); }
    }
    const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
    const ws = new WebSocket(targets.find((t) => t.type === "page").webSocketDebuggerUrl);
    await new Promise((r) => ws.addEventListener("open", r, { once: true }));
    let id = 0;
    const pending = new Map();
    let bytes = 0;
    ws.addEventListener("message", (e) => {
      const m = JSON.parse(e.data);
      if (m.id && pending.has(m.id)) { pending.get(m.id)(m.result); pending.delete(m.id); }
      if (m.method === "Network.loadingFinished") bytes += m.params.encodedDataLength;
    });
    const call = (method, params = {}) => new Promise((r) => {
      pending.set(++id, r);
      ws.send(JSON.stringify({ id, method, params }));
    });
    await call("Network.enable");
    await call("Network.setCacheDisabled", { cacheDisabled: true });
    await call("Page.navigate", { url });
    for (let i = 0; i < 600; i++) {
      const r = await call("Runtime.evaluate", { expression: "document.body && document.body.dataset.firstRender", returnByValue: true });
      if (r.result.value) {
        await sleep(200); // let the last loadingFinished events arrive
        ws.close();
        return { ms: Number(r.result.value), bytes };
      }
      await sleep(20);
    }
    throw new Error("the page never rendered");
  } finally {
    chrome.kill();
    await sleep(200);
    rmSync(profile, { recursive: true, force: true });
  }
}

const results = [];
for (let i = 0; i < runs; i++) results.push(await once());
const ms = results.map((r) => r.ms).sort((a, b) => a - b);
console.log(`first render: ${ms.map((m) => m.toFixed(0)).join(", ")} ms (median ${ms[Math.floor(ms.length / 2)].toFixed(0)} ms)`);
console.log(`transferred: ${(results[0].bytes / 1024).toFixed(1)} KB (first run, cache disabled)`);
