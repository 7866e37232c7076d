/**
 * agenttrace for k6: join every request to the load run, and turn the agent's Server-Timing into k6 metrics.
 *
 * Copy this file next to your script (`agenttrace k6 copy .`) and import it:
 *
 *   import { AgentTrace, agenttraceSummary } from './agenttrace.js';
 *   const at = new AgentTrace({ stages: ['context_load', 'llm_call', 'tool_call'] });  // init context
 *   export const options = { thresholds: { agenttrace_stage_llm_call: ['p(95)<15000'] } };
 *   export function setup() { return at.setup(); }            // picks the run id once and prints it
 *   export default function (data) { at.use(data).post(`${__ENV.BASE_URL}/tickets/1`); }
 *   export function handleSummary(data) { return agenttraceSummary(data, { json: 'agenttrace-summary.json' }); }
 *
 * Each request gets a new W3C `traceparent` and a `baggage` with the run id, the k6 scenario and the VU.
 * Each response's Server-Timing (`<stage>;dur=<ms>;desc="<calls>"`, `total;dur=<ms>`, `llm_calls;desc="N"`...)
 * becomes samples of these metrics (k6 only accepts metrics declared in the init context, hence `stages`):
 *
 *   agenttrace_stage_<stage>   Trend (ms): the time one request spent in a declared stage (all its calls)
 *   agenttrace_calls_<stage>   Counter: how often a declared stage ran
 *   agenttrace_stage           Trend (ms), tagged stage:<name>: the same for stages not declared
 *   agenttrace_calls           Counter, tagged stage:<name>: calls of stages not declared
 *   agenttrace_total           Trend (ms): the server's time to the response headers
 *   agenttrace_requests        Counter: responses that carried agenttrace's Server-Timing (`total`)
 *   agenttrace_llm_calls, agenttrace_tool_calls, agenttrace_input_tokens, agenttrace_output_tokens   Counters
 *
 * A threshold on an undeclared stage names the sub-metric: `'agenttrace_stage{stage:retrieval}': [...]`.
 * No request is added and no request's status changes: http_reqs and http_req_failed stay k6's own.
 */
import http from 'k6/http';
import exec from 'k6/execution';
import { Counter, Trend } from 'k6/metrics';

/** Server-Timing names that are not stages. */
export const RESERVED = ['total', 'trace', 'llm_calls', 'tool_calls', 'input_tokens', 'output_tokens'];
/** The label of the undeclared stages' aggregate row in the summary. */
export const UNDECLARED = '(undeclared)';
const COUNTS = ['llm_calls', 'tool_calls', 'input_tokens', 'output_tokens'];
const STAGE_PREFIX = 'agenttrace_stage_';
const CALLS_PREFIX = 'agenttrace_calls_';

const shared = {
  stage: new Trend('agenttrace_stage', true),
  calls: new Counter('agenttrace_calls'),
  total: new Trend('agenttrace_total', true),
  requests: new Counter('agenttrace_requests'),
  llm_calls: new Counter('agenttrace_llm_calls'),
  tool_calls: new Counter('agenttrace_tool_calls'),
  input_tokens: new Counter('agenttrace_input_tokens'),
  output_tokens: new Counter('agenttrace_output_tokens'),
};
// Declared stages of this VU's runtime, by metric suffix (the summary maps metric names back to stage names).
const declared = new Map();

/** The k6 metric-name suffix of a stage: k6 accepts only ASCII letters, digits and `_`. */
export function metricSuffix(stage) {
  return String(stage).replace(/[^A-Za-z0-9_]/g, '_');
}

/** Split `s` on `sep` outside double-quoted strings (a `desc` may hold `,` or `;`). */
function splitOutsideQuotes(s, sep) {
  const parts = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quoted && c === '\\') i++;
    else if (c === '"') quoted = !quoted;
    else if (c === sep && !quoted) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(s.slice(start));
  return parts;
}

function unquote(v) {
  return v.length >= 2 && v[0] === '"' && v[v.length - 1] === '"' ? v.slice(1, -1).replace(/\\(.)/g, '$1') : v;
}

/**
 * Parse a Server-Timing value (several headers joined with ", " too) into `[{ name, dur, desc, params }]`.
 * `dur` is a number or undefined; `desc` a string or undefined; a repeated parameter keeps its first value.
 */
export function parseServerTiming(value) {
  const out = [];
  if (!value) return out;
  for (const entry of splitOutsideQuotes(String(value), ',')) {
    const [head, ...rest] = splitOutsideQuotes(entry, ';');
    const name = head.trim();
    if (!name) continue;
    const params = Object.create(null); // no inherited keys: a parameter may be named "constructor"
    for (const raw of rest) {
      const eq = raw.indexOf('=');
      const key = (eq < 0 ? raw : raw.slice(0, eq)).trim().toLowerCase();
      if (key && !(key in params)) params[key] = eq < 0 ? '' : unquote(raw.slice(eq + 1).trim());
    }
    const dur = params.dur === undefined || params.dur === '' ? NaN : Number(params.dur);
    out.push({ name, dur: Number.isFinite(dur) ? dur : undefined, desc: params.desc, params });
  }
  return out;
}

function count(desc) {
  const n = Number(desc);
  return desc !== undefined && desc !== '' && Number.isInteger(n) && n >= 0 ? n : undefined;
}

function hex(bytes) {
  const b = new Uint8Array(bytes);
  do crypto.getRandomValues(b);
  while (b.every((x) => x === 0)); // an all-zero trace or span id is invalid
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** A new W3C traceparent, sampled: `00-<32 hex>-<16 hex>-01`. */
export function newTraceparent() {
  return `00-${hex(16)}-${hex(8)}-01`;
}

/** A fresh run id, `k6-<UTC yyyymmdd-hhmmss>-<6 hex>`. */
export function newRunId() {
  const t = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `k6-${t}-${hex(3)}`;
}

function findHeader(headers, wanted) {
  for (const key of Object.keys(headers || {})) if (key.toLowerCase() === wanted) return key;
  return undefined;
}

function testTag(name) {
  try {
    return ((exec.test.options || {}).tags || {})[name];
  } catch (e) {
    return undefined; // exec.test is not available in the init context
  }
}

/** Wraps k6/http: propagation headers on every request, Server-Timing into metrics on every response. */
export class AgentTrace {
  /**
   * @param {object} [options]
   * @param {string[]} [options.stages] stage names to get their own metrics (must be given in the init context)
   * @param {string} [options.runId] the run id (else $AGENTTRACE_RUN_ID, the test tag `run_id`, or setup's)
   * @param {string} [options.scenario] the scenario in baggage (else the k6 scenario's name)
   */
  constructor(options = {}) {
    this.runId = options.runId || __ENV.AGENTTRACE_RUN_ID || undefined;
    this.scenario = options.scenario;
    this.stages = new Map();
    for (const stage of options.stages || []) {
      if (RESERVED.includes(stage)) throw new Error(`agenttrace: '${stage}' is a reserved Server-Timing name`);
      const suffix = metricSuffix(stage);
      const other = declared.get(suffix);
      if (other !== undefined && other.stage !== stage) {
        throw new Error(`agenttrace: stages '${other.stage}' and '${stage}' map to the same k6 metric`);
      }
      const metrics = other || {
        stage,
        trend: new Trend(STAGE_PREFIX + suffix, true),
        calls: new Counter(CALLS_PREFIX + suffix),
      };
      declared.set(suffix, metrics);
      this.stages.set(stage, metrics);
    }
  }

  /** Call from `setup()`: picks the run id once for the whole test, prints it, returns the setup data. */
  setup() {
    const runId = this.runId || testTag('run_id') || newRunId();
    console.log(`agenttrace run id: ${runId}`);
    return { agenttrace: { run_id: runId } };
  }

  /** Take the run id from the setup data (the default function's argument); returns this, for chaining. */
  use(data) {
    const runId = data && data.agenttrace && data.agenttrace.run_id;
    if (runId && !this.runId) this.runId = runId;
    return this;
  }

  _resolveRunId() {
    if (!this.runId) this.runId = testTag('run_id');
    if (!this.runId) {
      // every VU would otherwise report a run of its own: say so once per VU
      this.runId = newRunId();
      console.warn(`agenttrace: no run id from AGENTTRACE_RUN_ID, --tag run_id or setup(); VU ${__VU} uses ${this.runId}`);
    }
    return this.runId;
  }

  /** `params` with traceparent and baggage added to its headers (a caller's own traceparent is kept). */
  params(params = {}) {
    const headers = Object.assign({}, params.headers);
    if (findHeader(headers, 'traceparent') === undefined) headers.traceparent = newTraceparent();
    let scenario = this.scenario;
    if (!scenario) {
      try {
        scenario = exec.scenario.name;
      } catch (e) {
        scenario = 'default';
      }
    }
    const ours = [
      ['agenttrace.run_id', this._resolveRunId()],
      ['agenttrace.scenario', scenario],
      ['agenttrace.user', `vu-${__VU}`],
    ];
    const key = findHeader(headers, 'baggage');
    const theirs = key === undefined ? '' : String(headers[key]);
    const kept = theirs ? [theirs] : [];
    for (const [k, v] of ours) {
      if (!new RegExp(`(^|,)\\s*${k.replace('.', '\\.')}\\s*=`).test(theirs)) kept.push(`${k}=${encodeURIComponent(v)}`);
    }
    if (key !== undefined) delete headers[key];
    headers.baggage = kept.join(',');
    return Object.assign({}, params, { headers });
  }

  /** Like `http.request`, with propagation and metrics; `get`, `post`, `put`, `patch`, `del`, `head`, `options` too. */
  request(method, url, body, params) {
    const res = http.request(method, url, body, this.params(params || {}));
    this.record(res, (params || {}).tags);
    return res;
  }

  get(url, params) {
    return this.request('GET', url, null, params);
  }

  head(url, params) {
    return this.request('HEAD', url, null, params);
  }

  post(url, body, params) {
    return this.request('POST', url, body, params);
  }

  put(url, body, params) {
    return this.request('PUT', url, body, params);
  }

  patch(url, body, params) {
    return this.request('PATCH', url, body, params);
  }

  del(url, body, params) {
    return this.request('DELETE', url, body, params);
  }

  options(url, body, params) {
    return this.request('OPTIONS', url, body, params);
  }

  /**
   * Record one response's Server-Timing (for responses of plain k6/http calls, e.g. `http.batch`).
   * @returns the parsed entries, or null when the response has no Server-Timing
   */
  record(res, tags) {
    const key = findHeader(res && res.headers, 'server-timing');
    if (key === undefined) return null;
    const entries = parseServerTiming(res.headers[key]);
    const sampleTags = tags || {};
    for (const e of entries) {
      if (e.name === 'trace') continue;
      if (e.name === 'total') {
        shared.requests.add(1, sampleTags);
        if (e.dur !== undefined) shared.total.add(e.dur, sampleTags);
      } else if (COUNTS.includes(e.name)) {
        const n = count(e.desc);
        if (n !== undefined) shared[e.name].add(n, sampleTags);
      } else if (e.dur !== undefined) {
        const calls = count(e.desc) ?? 1;
        const known = this.stages.get(e.name);
        if (known) {
          known.trend.add(e.dur, sampleTags);
          known.calls.add(calls, sampleTags);
        } else {
          const stageTags = Object.assign({}, sampleTags, { stage: e.name });
          shared.stage.add(e.dur, stageTags);
          shared.calls.add(calls, stageTags);
        }
      }
    }
    return entries;
  }
}


// --- the end-of-test summary ---------------------------------------------------------------------------------

function metricValues(data, name) {
  const m = data.metrics && data.metrics[name];
  return m ? m.values || {} : undefined;
}

function stat(values, key) {
  return values && typeof values[key] === 'number' ? values[key] : null;
}

function perRequest(total, requests) {
  return requests ? total / requests : null;
}

function stageRow(data, stage, trendName, callsName, requests) {
  const trend = metricValues(data, trendName);
  const callsValues = metricValues(data, callsName);
  // a sub-metric exists only when a threshold names it: without `agenttrace_calls{stage:x}` the calls are unknown
  const calls = callsValues ? stat(callsValues, 'count') || 0 : trend ? null : 0;
  return {
    stage,
    count: calls,
    requests: stat(trend, 'count') ?? (trend ? null : 0),
    calls_per_request: calls === null ? null : perRequest(calls, requests),
    p50_ms: stat(trend, 'p(50)') ?? stat(trend, 'med'),
    p95_ms: stat(trend, 'p(95)'),
    p99_ms: stat(trend, 'p(99)'),
  };
}

function runIdOf(data, options) {
  const setup = data.setup_data && data.setup_data.agenttrace;
  return options.runId || (setup && setup.run_id) || __ENV.AGENTTRACE_RUN_ID || testTag('run_id') || null;
}

/**
 * The per-stage summary of a run, from handleSummary's `data`. Percentiles come from `summaryTrendStats`:
 * include 'p(50)', 'p(95)', 'p(99)' (and 'count' for the requests per stage); missing ones are null.
 */
export function summarize(data, options = {}) {
  const requests = stat(metricValues(data, 'agenttrace_requests'), 'count') || 0;
  const stages = [];
  const seen = new Set();
  for (const [suffix, { stage }] of declared) {
    stages.push(stageRow(data, stage, STAGE_PREFIX + suffix, CALLS_PREFIX + suffix, requests));
    seen.add(STAGE_PREFIX + suffix);
  }
  const others = [];
  for (const name of Object.keys(data.metrics || {}).sort()) {
    const tagged = /^agenttrace_stage\{stage:(.+)\}$/.exec(name);
    if (tagged) others.push(stageRow(data, tagged[1], name, `agenttrace_calls{stage:${tagged[1]}}`, requests));
    else if (name.startsWith(STAGE_PREFIX) && !name.includes('{') && !seen.has(name)) {
      // declared by another script's AgentTrace: the suffix is the best name we have
      const suffix = name.slice(STAGE_PREFIX.length);
      others.push(stageRow(data, suffix, name, CALLS_PREFIX + suffix, requests));
    }
  }
  stages.push(...others);
  if (metricValues(data, 'agenttrace_stage')) {
    stages.push(stageRow(data, UNDECLARED, 'agenttrace_stage', 'agenttrace_calls', requests));
  }
  const total = metricValues(data, 'agenttrace_total');
  const out = {
    run_id: runIdOf(data, options),
    requests,
    http_reqs: stat(metricValues(data, 'http_reqs'), 'count') || 0,
    stages,
    total: { p50_ms: stat(total, 'p(50)') ?? stat(total, 'med'), p95_ms: stat(total, 'p(95)'), p99_ms: stat(total, 'p(99)') },
  };
  for (const name of COUNTS) {
    const n = stat(metricValues(data, `agenttrace_${name}`), 'count');
    out[name] = n;
    out[`${name}_per_request`] = n === null ? null : perRequest(n, requests);
  }
  return out;
}

function fixed(v, digits) {
  return v === null || v === undefined ? '-' : v.toFixed(digits);
}

/** The summary as a text table. */
export function summaryTable(summary) {
  const rows = [['stage', 'calls', 'calls/req', 'p50 ms', 'p95 ms', 'p99 ms']];
  for (const s of summary.stages) {
    rows.push([s.stage, s.count === null ? '-' : String(s.count), fixed(s.calls_per_request, 2), fixed(s.p50_ms, 1), fixed(s.p95_ms, 1), fixed(s.p99_ms, 1)]);
  }
  const t = summary.total;
  rows.push(['total (server)', String(summary.requests), '-', fixed(t.p50_ms, 1), fixed(t.p95_ms, 1), fixed(t.p99_ms, 1)]);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
  const per = COUNTS.map((n) => `${n.replace('_', ' ')}/req ${fixed(summary[`${n}_per_request`], 2)}`).join(', ');
  const head = `agenttrace run ${summary.run_id || '(no run id)'}: ${summary.requests} requests with Server-Timing, ${summary.http_reqs} http_reqs`;
  return `\n${head}\n${lines.join('\n')}\n${per}\n\n`;
}

/**
 * For `handleSummary`: `{ stdout: <table> }`, plus the JSON summary at `options.json` and the table at
 * `options.text` when given. Merge it with your own outputs: `Object.assign(agenttraceSummary(data), {...})`.
 * @param {object} [options] `json` path, `text` path, `stdout` (default true), `runId`
 */
export function agenttraceSummary(data, options = {}) {
  const summary = summarize(data, options);
  const table = summaryTable(summary);
  const out = {};
  if (options.stdout !== false) out.stdout = table;
  if (options.json) out[options.json] = JSON.stringify(summary, null, 2);
  if (options.text) out[options.text] = table;
  return out;
}
