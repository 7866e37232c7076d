// agenttrace live page: polls the collector's query API and draws the current run. No framework, no build step.
// Location fragment: #run=RUN_ID&token=TOKEN (both optional; the fragment never reaches the server).
"use strict";

const POLL_MS = 2000;
const API = "../api/v1";
const params = () => new URLSearchParams(location.hash.slice(1));
let token = params().get("token") || sessionStorage.getItem("agenttrace-token") || "";
let timer = null;
let generation = 0;

// --- data -------------------------------------------------------------------------------------------------
async function get(path) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const headers = token ? { Authorization: "Bearer " + token } : {};
    const response = await fetch(API + path, { headers, cache: "no-store" });
    if (response.status === 401 && attempt === 0) {
      const given = window.prompt("This collector needs its token (--token):");
      if (!given) break;
      token = given;
      sessionStorage.setItem("agenttrace-token", token);
      continue;
    }
    const body = await response.json().catch(() => ({ message: response.statusText }));
    if (!response.ok) throw new Error(body.message || "HTTP " + response.status);
    return body;
  }
  throw new Error("missing or wrong bearer token");
}

function runQuery(run) {
  return run === null || run === undefined ? "" : "?run=" + encodeURIComponent(run);
}

// --- helpers ----------------------------------------------------------------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key === "onclick") node.addEventListener("click", value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

function num(value, digits = 1) {
  if (value === null || value === undefined) return "–";
  return Number(value).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

function pct(value) {
  return value === null || value === undefined ? "–" : (value * 100).toFixed(1) + "%";
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function setStatus(state, text) {
  const status = document.getElementById("status");
  status.dataset.state = state;
  status.textContent = text;
}

// --- rendering --------------------------------------------------------------------------------------------
function renderRuns(runs, current) {
  const rows = runs
    .slice()
    .reverse()
    .map((run) => {
      const hash = new URLSearchParams(params());
      hash.set("run", run.run_id ?? "");
      const link = el("a", { href: "#" + hash.toString() }, run.run_id ?? "(no run id)");
      const row = el(
        "tr",
        { class: run.run_id === current ? "current" : "" },
        el("td", {}, link),
        el("td", {}, new Date(run.first_span_ns / 1e6).toISOString().replace("T", " ").slice(0, 19)),
        el("td", { class: "n" }, num(run.requests, 0)),
        el("td", { class: "n" }, num(run.spans, 0)),
      );
      return row;
    });
  fill(document.querySelector("#runs tbody"), rows);
}

function renderOverview(report) {
  const cards = [
    ["Requests", num(report.requests, 0)],
    ["Requests/s", num(report.requests_per_s, 2)],
    ["Wall", num(report.wall_s, 1) + " s"],
    ["Errors", num(report.errors, 0) + " (" + pct(report.error_rate) + ")"],
    ["Rate limited", num(report.rate_limited, 0)],
    ["In flight, mean / max", num(report.concurrency.mean, 1) + " / " + num(report.concurrency.max, 0)],
    ["LLM calls/req p50", num(report.costs.llm_calls_per_request.p50, 1)],
    ["Model 429s", num(report.costs.model_429s, 0)],
  ];
  document
    .getElementById("overview")
    .replaceChildren(...cards.map(([label, value]) => el("div", { class: "card" }, el("span", {}, label), el("b", {}, value))));
  const neck = report.bottleneck || {};
  document.getElementById("bottleneck").textContent =
    "Bottleneck: " + (neck.kind === "stage" ? neck.stage : neck.kind || "–") + (neck.reason ? " — " + neck.reason : "");
  document.getElementById("run-title").textContent = "run " + (report.run_id ?? "(no run id)");
}

function renderStages(stages) {
  const rows = stages.map((s) =>
    el(
      "tr",
      { dataset: { stage: s.stage } },
      el("td", {}, s.stage),
      ...[
        num(s.calls, 0), num(s.calls_per_request, 2), num(s.p50_ms), num(s.p95_ms), num(s.p99_ms), num(s.self_p95_ms),
        pct(s.critical_path_share), num(s.input_tokens_per_request, 0), num(s.output_tokens_per_request, 0),
        num(s.errors, 0), num(s.rate_limited, 0),
      ].map((text) => el("td", { class: "n" }, text)),
    ),
  );
  fill(document.querySelector("#stages tbody"), rows);
}

function renderRequests(id, requests) {
  const rows = requests.map((r) =>
    el(
      "tr",
      { class: "request", dataset: { traceId: r.trace_id }, onclick: () => openTrace(r.trace_id), title: "open the trace" },
      el("td", {}, r.name),
      el("td", {}, r.scenario ?? ""),
      el("td", { class: "n" }, num(r.duration_ms, 0) + " ms"),
      el("td", {}, r.http_status_code ?? ""),
      el("td", {}, r.error ?? ""),
    ),
  );
  if (!rows.length) rows.push(el("tr", {}, el("td", { class: "muted" }, "none")));
  fill(document.querySelector("#" + id + " tbody"), rows);
}

const LAYOUT = {
  margin: { l: 55, r: 55, t: 10, b: 90 },
  height: 300,
  legend: { orientation: "h", y: -0.3, yanchor: "top" },
  font: { size: 11 },
  paper_bgcolor: "rgba(0,0,0,0)",
  plot_bgcolor: "rgba(0,0,0,0)",
};
const CONFIG = { displaylogo: false, responsive: true };

function plot(id, traces, layout) {
  const node = document.getElementById(id);
  window.Plotly.react(node, traces, { ...LAYOUT, ...layout, datarevision: Date.now() }, CONFIG);
  node.dataset.updates = String(Number(node.dataset.updates || 0) + 1);
}

function renderPlots(report, series) {
  if (!window.Plotly) {
    document.getElementById("no-plotly").hidden = false;
    return;
  }
  const t = series.requests.map((row) => row[0]);
  const latency = [
    { x: t, y: series.requests.map((row) => row[4]), name: "request p95", mode: "lines+markers", line: { width: 3 } },
    { x: t, y: series.requests.map((row) => row[3]), name: "request p50", mode: "lines+markers", line: { dash: "dot" } },
    ...Object.entries(series.stages).map(([stage, rows]) => ({
      x: rows.map((row) => row[0]), y: rows.map((row) => row[2]), name: stage + " p95", mode: "lines+markers",
    })),
  ];
  plot("plot-latency", latency, { xaxis: { title: { text: "s since the run's first request" } }, yaxis: { title: { text: "ms" } } });

  const timeline = report.concurrency.timeline;
  const throughput = [
    { x: t, y: series.requests.map((row) => row[1] / series.step_s), name: "completed/s", type: "bar", opacity: 0.6 },
    { x: t, y: series.requests.map((row) => row[2] / series.step_s), name: "failed/s", type: "bar", opacity: 0.8 },
    { x: timeline.map((p) => p[0]), y: timeline.map((p) => p[1]), name: "in flight", mode: "lines", line: { shape: "hv" }, yaxis: "y2" },
  ];
  plot("plot-throughput", throughput, {
    barmode: "overlay",
    xaxis: { title: { text: "s since the run's first request" } },
    yaxis: { title: { text: "requests/s" } },
    yaxis2: { title: { text: "in flight" }, overlaying: "y", side: "right", rangemode: "tozero" },
  });

  const bins = (report.saturation && report.saturation.bins) || [];
  const stages = [...new Set(bins.flatMap((b) => b.stages.map((s) => s.stage)))];
  const saturation = [
    { x: bins.map((b) => b.concurrency), y: bins.map((b) => b.p95_ms), name: "request p95", mode: "lines+markers", line: { width: 3 } },
    ...stages.map((stage) => {
      const points = bins.map((b) => [b.concurrency, (b.stages.find((s) => s.stage === stage) || {}).call_p95_ms]);
      return { x: points.map((p) => p[0]), y: points.map((p) => p[1] ?? null), name: stage + " call p95", mode: "lines+markers" };
    }),
  ];
  plot("plot-saturation", saturation, {
    xaxis: { title: { text: "requests in flight (bin median)" } },
    yaxis: { title: { text: "ms" } },
  });
}

// --- polling ----------------------------------------------------------------------------------------------
async function refresh() {
  const mine = ++generation;
  setStatus("updating", "updating…");
  try {
    const wanted = params().has("run") ? params().get("run") : undefined;
    const runs = await get("/runs");
    if (!runs.length) {
      setStatus("idle", "waiting for spans");
      return;
    }
    // One read per poll: the collector reuses its last answer while recomputing would cost ingest too much.
    const live = await get("/live" + runQuery(wanted));
    const { report, series } = live;
    if (mine !== generation) return; // the run changed while this refresh ran
    renderRuns(runs, report.run_id);
    renderOverview(report);
    renderStages(report.stages);
    renderRequests("slowest", report.slowest);
    renderRequests("failed", report.failed);
    renderPlots(report, series);
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
    document.body.dataset.requests = String(report.requests);
    const age = live.age_s >= 1 ? ", " + num(live.age_s, 0) + " s old" : "";
    setStatus("ok", "updated " + new Date().toLocaleTimeString() + age);
    document.getElementById("status").title =
      "the report took " + num(live.cost_s, 2) + " s; the collector recomputes it every " + num(live.next_in_s, 1) + " s at most";
  } catch (error) {
    setStatus("error", String(error.message || error));
  }
}

let polling = false;
let pollAgain = false;
async function loop() {
  clearTimeout(timer);
  if (polling) {
    pollAgain = true; // one poll at a time: the running one is followed by another at once
    return;
  }
  polling = true;
  try {
    if (!document.hidden) await refresh(); // a hidden tab costs the collector nothing
  } finally {
    polling = false;
  }
  if (pollAgain) {
    pollAgain = false;
    loop();
  } else {
    timer = setTimeout(loop, POLL_MS); // the next poll starts after this one ended: polls never pile up
  }
}

// --- trace waterfall --------------------------------------------------------------------------------------
async function openTrace(traceId) {
  const dialog = document.getElementById("waterfall");
  document.getElementById("wf-title").textContent = "Trace " + traceId;
  document.getElementById("wf-spans").replaceChildren(el("p", { class: "muted" }, "loading…"));
  document.getElementById("wf-axis").replaceChildren();
  document.getElementById("wf-detail").replaceChildren();
  if (!dialog.open) dialog.showModal();
  try {
    drawWaterfall(await get("/traces/" + traceId));
  } catch (error) {
    document.getElementById("wf-spans").replaceChildren(el("p", { class: "error" }, String(error.message || error)));
  }
}

function ordered(spans) {
  // Depth-first by parent, children by start time; spans whose parent is not stored become roots.
  const ids = new Set(spans.map((s) => s.span_id));
  const children = new Map();
  for (const span of spans) {
    const parent = span.parent_span_id && ids.has(span.parent_span_id) ? span.parent_span_id : "";
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(span);
  }
  const out = [];
  const visit = (parent, depth) => {
    for (const span of (children.get(parent) || []).sort((a, b) => a.start_ns - b.start_ns)) {
      out.push([span, depth]);
      visit(span.span_id, depth + 1);
    }
  };
  visit("", 0);
  return out;
}

function drawWaterfall(trace) {
  const start = Math.min(...trace.spans.map((s) => s.start_ns));
  const end = Math.max(...trace.spans.map((s) => s.end_ns));
  const total = Math.max(end - start, 1);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) =>
    el("span", { style: "left:" + f * 100 + "%" }, num((f * total) / 1e6, 1) + " ms"),
  );
  document.getElementById("wf-axis").replaceChildren(el("div", { class: "wf-label" }, "span"), el("div", { class: "wf-track" }, ...ticks));
  const rows = ordered(trace.spans).map(([span, depth]) => {
    const left = ((span.start_ns - start) / total) * 100;
    const width = Math.max(((span.end_ns - span.start_ns) / total) * 100, 0.3);
    const kind = span.status_code === "ERROR" ? "error" : span.stage ? "stage" : span.kind === "SERVER" ? "server" : "other";
    const bar = el("div", { class: "wf-bar " + kind, style: `left:${left}%;width:${width}%` });
    const label = num((span.end_ns - span.start_ns) / 1e6, 1) + " ms";
    const row = el(
      "div",
      { class: "wf-row", dataset: { spanId: span.span_id }, onclick: () => showSpan(span, row) },
      el("div", { class: "wf-label", style: "padding-left:" + depth * 14 + "px", title: span.name }, span.name),
      el("div", { class: "wf-track" }, bar, el("span", { class: left + width > 88 ? "wf-dur inside" : "wf-dur", style: `left:${Math.min(left + width, 88)}%` }, label)),
    );
    return row;
  });
  if (trace.truncated) rows.push(el("p", { class: "muted" }, "more spans than shown"));
  document.getElementById("wf-spans").replaceChildren(...rows);
  if (rows.length) rows[0].click();
}

function showSpan(span, row) {
  for (const other of document.querySelectorAll(".wf-row.selected")) other.classList.remove("selected");
  row.classList.add("selected");
  const fields = [
    ["name", span.name], ["span id", span.span_id], ["parent", span.parent_span_id ?? ""], ["kind", span.kind],
    ["status", span.status_code + (span.status_message ? ": " + span.status_message : "")],
    ["duration", num((span.end_ns - span.start_ns) / 1e6, 3) + " ms"], ["service", span.service_name ?? ""],
    ...Object.entries(span.attributes).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : v]),
    ...span.events.map((e) => ["event " + e.name, JSON.stringify(e.attributes)]),
    ...Object.entries(span.resource_attributes).map(([k, v]) => ["resource " + k, typeof v === "object" ? JSON.stringify(v) : v]),
  ];
  const table = el("table", { class: "attributes" }, el("tbody", {}, ...fields.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v)))));
  document.getElementById("wf-detail").replaceChildren(table);
}

// --- start ------------------------------------------------------------------------------------------------
document.getElementById("wf-close").addEventListener("click", () => document.getElementById("waterfall").close());
window.addEventListener("hashchange", () => {
  if (params().get("token")) token = params().get("token");
  generation++;
  loop();
});
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) loop();
});
loop();
