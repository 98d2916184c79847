// The coinpulse dashboard: reads /api/v1 and draws it with uPlot.
//
// Rules this file keeps:
// - Every text that comes from the server (asset names, alert messages) reaches the page through
//   textContent or a text node, never innerHTML: a post or a registry entry cannot inject markup.
// - Times are UTC throughout, as in reports and charts.
// - The view follows the data: anchored to now while the daemon stores new posts, and to the newest
//   stored post (saying so) when the database holds only history.
// - The body's data-* attributes record what was drawn (asset, bucket, points), for tests and for
//   anyone scripting the page.
"use strict";

(function () {
  const RANGES = { "24h": 24, "7d": 24 * 7, "30d": 24 * 30, "90d": 24 * 90 };
  const HOUR = 3600 * 1000;
  // Data older than this (newest stored post vs now) is shown as history.
  const STALE_AFTER = 3 * HOUR;
  const REFRESH = 30 * 1000;
  const MOVERS = 10;

  const $ = (id) => document.getElementById(id);
  const state = {
    asset: null,
    range: "7d",
    customSince: null,
    customUntil: null,
    // "live": anchored to now; "data": anchored to the newest stored post.
    anchor: "live",
    dataEnd: null,
    assets: [],
    charts: {},
    series: null,
    loading: 0,
  };

  // ---- URL hash: #asset=bitcoin&range=7d (&since=…&until=… for custom) -------------------------

  function readHash() {
    const h = new URLSearchParams(location.hash.slice(1));
    if (h.get("asset")) state.asset = h.get("asset");
    const r = h.get("range");
    if (r && (r in RANGES || r === "custom")) state.range = r;
    if (h.get("since")) state.customSince = new Date(h.get("since"));
    if (h.get("until")) state.customUntil = new Date(h.get("until"));
    if (h.get("anchor") === "data") state.anchor = "data";
  }

  function writeHash() {
    const h = new URLSearchParams();
    if (state.asset) h.set("asset", state.asset);
    h.set("range", state.range);
    if (state.range === "custom" && state.customSince && state.customUntil) {
      h.set("since", state.customSince.toISOString());
      h.set("until", state.customUntil.toISOString());
    }
    if (state.anchor === "data") h.set("anchor", "data");
    history.replaceState(null, "", "#" + h.toString());
  }

  // ---- API --------------------------------------------------------------------------------------

  class ApiError extends Error {}

  async function api(path) {
    const headers = {};
    const token = sessionStorage.getItem("coinpulse-token");
    if (token) headers.Authorization = "Bearer " + token;
    const r = await fetch(path, { headers });
    if (r.status === 401) {
      const given = window.prompt(
        "This coinpulse server needs its access token (the value of the variable named by http.token_env):"
      );
      if (given) {
        sessionStorage.setItem("coinpulse-token", given.trim());
        return api(path);
      }
      throw new ApiError("the server needs an access token");
    }
    const body = await r.json().catch(() => null);
    if (!r.ok) throw new ApiError((body && body.error) || "HTTP " + r.status);
    return body;
  }

  // ---- formatting -------------------------------------------------------------------------------

  const utc = (d) => d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  const num = (n) => (n == null ? "–" : Math.round(n).toLocaleString("en-US"));
  function usd(p) {
    if (p == null) return "–";
    const digits = p >= 1000 ? 0 : p >= 1 ? 2 : 6;
    return "$" + p.toLocaleString("en-US", { maximumFractionDigits: digits });
  }
  const pct = (x) => (x == null ? "–" : (x > 0 ? "+" : "") + (x * 100).toFixed(0) + "%");
  const signed = (x) => (x == null ? "–" : (x > 0 ? "+" : "") + x.toFixed(2));
  const label = (a) => (a.symbol ? a.symbol + (a.name ? " (" + a.name + ")" : "") : a.id);

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text != null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  // ---- the time window --------------------------------------------------------------------------

  function anchorTime() {
    if (state.anchor === "data" && state.dataEnd) return state.dataEnd;
    return new Date();
  }

  function window_() {
    if (state.range === "custom" && state.customSince && state.customUntil) {
      return [state.customSince, state.customUntil];
    }
    const until = anchorTime();
    return [new Date(until.getTime() - RANGES[state.range] * HOUR), until];
  }

  // ---- loading ----------------------------------------------------------------------------------

  async function refreshAll() {
    const ticket = ++state.loading;
    $("error").hidden = true;
    try {
      await loadAssets();
      if (ticket !== state.loading) return;
      await Promise.all([loadSeries(), loadMovers(), loadAlerts()]);
      if (ticket !== state.loading) return;
      $("status").textContent = statusLine();
      document.body.dataset.ready = String(Number(document.body.dataset.ready || 0) + 1);
      // Navigation start to the first complete render, for the benchmark.
      if (!document.body.dataset.firstRender) {
        document.body.dataset.firstRender = performance.now().toFixed(0);
      }
    } catch (e) {
      showError(e);
    }
  }

  function showError(e) {
    $("error").hidden = false;
    $("error").textContent = "Could not load: " + e.message;
    document.body.dataset.error = e.message;
  }

  function statusLine() {
    const [since, until] = window_();
    const s = state.series;
    const bucket = s ? " · " + s.bucket + " buckets" : "";
    const live = state.anchor === "live" && state.range !== "custom" ? " · updates every 30 s" : "";
    return utc(since) + " – " + utc(until) + bucket + live;
  }

  async function loadAssets() {
    // Where the data is: the newest hour with a stored mention, over every asset.
    const now = await api("/api/v1/assets");
    let newest = null;
    for (const a of now) {
      const t = new Date(a.last_bucket).getTime() + HOUR;
      if (newest == null || t > newest) newest = t;
    }
    state.dataEnd = newest == null ? null : new Date(Math.min(newest, Date.now()));
    const stale = state.dataEnd && Date.now() - state.dataEnd.getTime() > STALE_AFTER;
    if (!state.userAnchored) state.anchor = stale ? "data" : "live";
    showHistoryBanner(stale);
    // The 24-hour numbers are of the window's end: now, or the newest stored post.
    state.assets =
      state.anchor === "data" && stale
        ? await api("/api/v1/assets?until=" + encodeURIComponent(state.dataEnd.toISOString()))
        : now;
    const list = $("asset-list");
    list.replaceChildren(
      ...state.assets.map((a) => {
        const o = document.createElement("option");
        o.value = a.symbol || a.id;
        o.label = label(a);
        return o;
      })
    );
    if (!state.asset && state.assets.length) state.asset = state.assets[0].id;
    if (!state.assets.length) {
      $("status").textContent = "Nothing is stored yet: start a source or import posts.";
    }
  }

  function showHistoryBanner(stale) {
    const banner = $("history");
    if (!state.dataEnd) {
      banner.hidden = true;
      return;
    }
    if (state.anchor === "data" && stale) {
      banner.hidden = false;
      $("history-text").textContent =
        "History: nothing newer than " + utc(state.dataEnd) + " is stored, so this view ends there.";
      $("jump").textContent = "Show the last hours to now";
      $("jump").dataset.to = "live";
    } else if (stale) {
      banner.hidden = false;
      $("history-text").textContent =
        "Nothing is stored after " + utc(state.dataEnd) + ".";
      $("jump").textContent = "Jump to where the data is";
      $("jump").dataset.to = "data";
    } else {
      banner.hidden = true;
    }
  }

  async function loadSeries() {
    if (!state.asset) return;
    const [since, until] = window_();
    const q = new URLSearchParams({
      asset: state.asset,
      since: since.toISOString(),
      until: until.toISOString(),
    });
    const s = await api("/api/v1/series?" + q.toString());
    state.series = s;
    state.asset = s.asset.id;
    const a = state.assets.find((x) => x.id === s.asset.id);
    const name = a ? label(a) : s.asset.symbol || s.asset.id;
    $("volume-title").textContent = name + ": social volume (people) and price";
    $("asset").value = (a && a.symbol) || s.asset.symbol || s.asset.id;
    const body = document.body.dataset;
    body.asset = s.asset.id;
    body.bucket = s.bucket;
    body.points = String(s.time.length);
    writeHash();
    drawCharts();
  }

  async function loadMovers() {
    const [, until] = state.range === "custom" ? window_() : [null, anchorTime()];
    const rows = state.assets.slice(0, MOVERS);
    const sparks = await Promise.all(
      rows.map((a) =>
        api(
          "/api/v1/series?" +
            new URLSearchParams({
              asset: a.id,
              since: new Date(until.getTime() - 24 * HOUR).toISOString(),
              until: until.toISOString(),
              bucket: "1h",
            }).toString()
        ).catch(() => null)
      )
    );
    const tbody = $("movers").tBodies[0];
    tbody.replaceChildren(
      ...rows.map((a, i) => {
        const c = a.last_24h;
        const scored = c.positive + c.neutral + c.negative;
        const change = a.previous_24h_posts > 0 ? c.posts / a.previous_24h_posts - 1 : null;
        const tr = document.createElement("tr");
        tr.dataset.asset = a.id;
        tr.tabIndex = 0;
        tr.append(
          el("td", label(a)),
          el("td", num(c.posts)),
          el("td", change == null ? "new" : pct(change), change > 0 ? "up" : change < 0 ? "down" : ""),
          el("td", scored ? signed((c.positive - c.negative) / scored) : "–"),
          el("td", usd(a.last_price)),
          sparkCell(sparks[i])
        );
        tr.addEventListener("click", () => pick(a.id));
        tr.addEventListener("keydown", (e) => e.key === "Enter" && pick(a.id));
        return tr;
      })
    );
    $("movers-title").textContent = "Most talked about, 24 h to " + utc(until);
  }

  function sparkCell(series) {
    const td = document.createElement("td");
    if (!series || !series.posts.length) return td;
    const NS = "http://www.w3.org/2000/svg";
    const w = 96, h = 24;
    const max = Math.max(1, ...series.posts);
    const step = series.posts.length > 1 ? w / (series.posts.length - 1) : w;
    const points = series.posts
      .map((v, i) => (i * step).toFixed(1) + "," + (h - 1 - (v / max) * (h - 2)).toFixed(1))
      .join(" ");
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    svg.setAttribute("width", w);
    svg.setAttribute("height", h);
    svg.setAttribute("class", "spark");
    const line = document.createElementNS(NS, "polyline");
    line.setAttribute("points", points);
    svg.append(line);
    td.append(svg);
    return td;
  }

  async function loadAlerts() {
    const alerts = await api("/api/v1/alerts?limit=10");
    const ul = $("alerts");
    if (!alerts.length) {
      ul.replaceChildren(el("li", "No alert has fired.", "muted"));
      return;
    }
    ul.replaceChildren(
      ...alerts.map((a) => {
        const li = el("li");
        li.append(el("time", utc(new Date(a.bucket))), document.createTextNode(" "), el("span", a.message));
        return li;
      })
    );
  }

  // ---- charts -----------------------------------------------------------------------------------

  function tooltipPlugin(describe) {
    const tip = $("tooltip");
    return {
      hooks: {
        setCursor: (u) => {
          const i = u.cursor.idx;
          if (i == null || u.cursor.left < 0) {
            tip.hidden = true;
            return;
          }
          tip.replaceChildren(...describe(i).map((line) => el("div", line)));
          const box = u.over.getBoundingClientRect();
          tip.hidden = false;
          tip.style.left = Math.min(box.left + u.cursor.left + 12 + window.scrollX, window.innerWidth - 220) + "px";
          tip.style.top = box.top + u.cursor.top + 12 + window.scrollY + "px";
          tip.dataset.index = String(i);
        },
      },
    };
  }

  function axis(scale, side, format) {
    const a = {
      stroke: css("--fg"),
      grid: { stroke: css("--grid"), width: 1 },
      ticks: { stroke: css("--grid"), width: 1 },
    };
    if (scale) a.scale = scale;
    if (side != null) a.side = side;
    if (format) a.values = (u, vals) => vals.map(format);
    if (side === 1) {
      a.grid = { show: false };
      a.size = 80;
    }
    return a;
  }

  function makeChart(key, opts, data) {
    const box = $(key);
    if (state.charts[key]) state.charts[key].destroy();
    opts.width = Math.max(280, box.clientWidth);
    opts.height = opts.height || 260;
    opts.tzDate = (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC");
    box.replaceChildren();
    state.charts[key] = new uPlot(opts, data, box);
    box.dataset.points = String(data[0].length);
  }

  function drawCharts() {
    const s = state.series;
    if (!s || typeof uPlot === "undefined") return;
    const t = s.time.map((x) => Date.parse(x) / 1000);
    const when = (i) => utc(new Date(t[i] * 1000)) + " (" + s.bucket + ")";
    const name = s.asset.symbol || s.asset.id;

    makeChart(
      "volume-chart",
      {
        height: 300,
        series: [
          {},
          {
            label: "posts",
            scale: "posts",
            fill: css("--bar"),
            stroke: css("--bar-edge"),
            paths: uPlot.paths.bars({ size: [0.8, 40] }),
          },
          { label: "price (USD)", scale: "usd", stroke: css("--price"), width: 2, spanGaps: true },
          { label: "all posts, bots included", scale: "posts", stroke: css("--muted"), width: 1, dash: [4, 4] },
        ],
        axes: [axis(), axis("posts"), axis("usd", 1, (v) => usd(v))],
        scales: { posts: { range: (u, min, max) => [0, Math.max(1, max) * 1.1] } },
        plugins: [
          tooltipPlugin((i) => [
            when(i),
            name + " posts: " + num(s.posts[i]),
            "all posts, bots included: " + num(s.all_posts[i]),
            "price: " + usd(s.price[i]),
          ]),
        ],
      },
      [t, s.posts, s.price, s.all_posts]
    );

    makeChart(
      "sentiment-chart",
      {
        height: 220,
        series: [
          {},
          { label: "mean score", scale: "score", stroke: css("--score"), width: 2, spanGaps: false },
          { label: "positive", scale: "count", stroke: css("--pos"), width: 1 },
          { label: "negative", scale: "count", stroke: css("--neg"), width: 1 },
        ],
        axes: [axis(), axis("score"), axis("count", 1)],
        scales: { score: { range: [-1, 1] } },
        plugins: [
          tooltipPlugin((i) => [
            when(i),
            "mean score: " + signed(s.mean_score[i]),
            "positive " + num(s.positive[i]) + " · neutral " + num(s.neutral[i]) + " · negative " + num(s.negative[i]),
          ]),
        ],
      },
      [t, s.mean_score, s.positive, s.negative]
    );

    const share = s.dominance.map((d) => (d == null ? null : d * 100));
    makeChart(
      "share-chart",
      {
        height: 220,
        series: [{}, { label: "share of voice (%)", stroke: css("--share"), fill: css("--share-fill"), width: 2 }],
        axes: [axis(), axis(null, null, (v) => v + "%")],
        scales: { y: { range: (u, min, max) => [0, Math.min(100, Math.max(5, max * 1.1))] } },
        plugins: [
          tooltipPlugin((i) => [
            when(i),
            name + " share of asset-mentioning posts: " + (share[i] == null ? "–" : share[i].toFixed(1) + "%"),
          ]),
        ],
      },
      [t, share]
    );
  }

  // ---- controls ---------------------------------------------------------------------------------

  function pick(input) {
    const q = input.trim().toLowerCase();
    if (!q) return;
    const a =
      state.assets.find((x) => x.id === q) ||
      state.assets.find((x) => (x.symbol || "").toLowerCase() === q) ||
      state.assets.find((x) => (x.name || "").toLowerCase() === q);
    // An asset without recent mentions is still asked for: the API resolves symbols and names too.
    state.asset = a ? a.id : input.trim();
    loadSeries().catch(showError);
  }

  function setRange(r) {
    state.range = r;
    for (const b of document.querySelectorAll("#ranges button")) {
      b.setAttribute("aria-pressed", String(b.dataset.range === r));
    }
    $("custom").hidden = r !== "custom";
    if (r === "custom") {
      const [since, until] = [state.customSince, state.customUntil].every(Boolean)
        ? [state.customSince, state.customUntil]
        : [new Date(anchorTime().getTime() - 7 * 24 * HOUR), anchorTime()];
      $("custom-since").value = since.toISOString().slice(0, 16);
      $("custom-until").value = until.toISOString().slice(0, 16);
      return;
    }
    refreshAll();
  }

  function applyTheme(theme) {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem("coinpulse-theme", theme);
    drawCharts();
  }

  function init() {
    readHash();
    const saved = localStorage.getItem("coinpulse-theme");
    const dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
    document.documentElement.dataset.theme = saved || (dark ? "dark" : "light");

    $("picker").addEventListener("submit", (e) => {
      e.preventDefault();
      pick($("asset").value);
    });
    $("asset").addEventListener("change", () => pick($("asset").value));
    for (const b of document.querySelectorAll("#ranges button")) {
      b.addEventListener("click", () => setRange(b.dataset.range));
    }
    $("custom").addEventListener("submit", (e) => {
      e.preventDefault();
      const since = new Date($("custom-since").value + ":00Z");
      const until = new Date($("custom-until").value + ":00Z");
      if (!(since < until)) {
        showError(new Error("the custom range needs a start before its end"));
        return;
      }
      state.customSince = since;
      state.customUntil = until;
      refreshAll();
    });
    $("jump").addEventListener("click", () => {
      state.anchor = $("jump").dataset.to;
      state.userAnchored = true;
      refreshAll();
    });
    $("theme").addEventListener("click", () =>
      applyTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark")
    );
    window.addEventListener("resize", () => {
      clearTimeout(state.resizeTimer);
      state.resizeTimer = setTimeout(drawCharts, 150);
    });
    if (state.anchor === "data") state.userAnchored = true;
    for (const b of document.querySelectorAll("#ranges button")) {
      b.setAttribute("aria-pressed", String(b.dataset.range === state.range));
    }
    $("custom").hidden = state.range !== "custom";
    refreshAll();
    setInterval(() => {
      if (state.anchor === "live" && state.range !== "custom" && !document.hidden) refreshAll();
    }, REFRESH);
  }

  document.addEventListener("DOMContentLoaded", init);
})();
