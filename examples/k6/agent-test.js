/**
 * Load test of the example agent service (examples/agent_service) with agenttrace's k6 module.
 *
 *   agenttrace k6 copy examples/k6                      # once: k6 imports the module from a local file
 *   PYTHONPATH=src:. python -m examples.agent_service --port 8000 &
 *   k6 run examples/k6/agent-test.js                    # BASE_URL defaults to http://127.0.0.1:8000
 *   SCALE=0.05 THINK_S=0 k6 run examples/k6/agent-test.js   # a quick run: 1/20 of the users and of the time
 *
 * Virtual users ramp 10 -> 50 -> 100, hold, then ramp down to 0. Each VU opens a session on its first
 * iteration, then per iteration asks a simple question (weight 3), a question that makes the agent call a
 * tool (weight 2), or holds a three-message conversation (weight 1). Every request carries a new traceparent
 * and baggage with the run id (AGENTTRACE_RUN_ID, --tag run_id=..., or one picked in setup), the scenario and
 * the VU. A 429 whose body says "retry" is the service shedding load as designed (the model is rate limited):
 * it is expected, not an error (responseCallback for http_req_failed; the agent_errors rate for the rest).
 * Thresholds gate the run on p95 latency (end to end and per agent stage, from Server-Timing) and on the error
 * rate; k6 exits 99 when one is crossed. The per-stage summary goes to stdout and to agenttrace-summary.json
 * (SUMMARY_JSON).
 */
import http from 'k6/http';
import { check, sleep } from 'k6';
import { Rate } from 'k6/metrics';
import { AgentTrace, agenttraceSummary } from './agenttrace.js';

const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8000';
const SCALE = Number(__ENV.SCALE || 1);
const THINK_S = __ENV.THINK_S === undefined ? 1 : Number(__ENV.THINK_S);
if (!(SCALE > 0)) throw new Error(`SCALE must be a number > 0, got '${__ENV.SCALE}'`);
if (!(THINK_S >= 0)) throw new Error(`THINK_S must be a number >= 0, got '${__ENV.THINK_S}'`);

const users = (n) => (n === 0 ? 0 : Math.max(1, Math.round(n * SCALE)));
const during = (seconds) => `${Math.max(100, Math.round(seconds * 1000 * SCALE))}ms`;

// The stages the agent service records; others still land in agenttrace_stage{stage:<name>}.
const at = new AgentTrace({ stages: ['context_load', 'llm_call', 'tool_call', 'memory_save'] });
// Requests that went wrong: anything but a 200 with an answer or a 429 that says "retry".
const agentErrors = new Rate('agent_errors');

const SIMPLE = ['What are your opening hours?', 'Do you ship to Norway?', 'How do I reset my password?'];
const TOOLS = ['Look up order #12345', 'Can you search for refunds?', 'Look up order #10042 and search for returns'];
const CONVERSATION = ['I want to return a jacket.', 'It is order #12345.', 'Please email me the label.'];

export const options = {
  scenarios: {
    agent: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: [
        { duration: during(30), target: users(10) },
        { duration: during(60), target: users(50) },
        { duration: during(60), target: users(100) },
        { duration: during(60), target: users(100) },
        { duration: during(30), target: 0 },
      ],
      gracefulRampDown: '30s', // an agent request takes seconds: let it finish
    },
  },
  thresholds: {
    'http_req_duration{kind:message}': ['p(95)<15000'],
    http_req_failed: ['rate<0.01'], // 429 is an expected status (setResponseCallback below)
    agent_errors: ['rate<0.01'],
    checks: ['rate>0.99'],
    agenttrace_stage_llm_call: ['p(95)<15000'],
    agenttrace_stage_tool_call: ['p(95)<5000'],
  },
  summaryTrendStats: ['avg', 'p(50)', 'p(95)', 'p(99)', 'max', 'count'],
};

http.setResponseCallback(http.expectedStatuses(200, 429));

export function setup() {
  return at.setup();
}

function json(res) {
  try {
    return res.json();
  } catch (e) {
    return undefined; // not JSON: the checks fail
  }
}

function shed(res) {
  return res.status === 429 && String(res.body || '').toLowerCase().includes('retry');
}

let sessionId; // one session per VU, opened on its first iteration

function openSession() {
  const res = at.post(`${BASE_URL}/api/sessions`, null, { tags: { name: 'create session', kind: 'session' } });
  const body = json(res);
  const ok = check(res, {
    'session: status is 200': (r) => r.status === 200,
    'session: has an id': () => Boolean(body && typeof body.session_id === 'string'),
  });
  agentErrors.add(!ok);
  return ok ? body.session_id : undefined;
}

/** Send one message; returns the answer, or undefined when it was shed (429 "retry") or failed. */
function say(name, content, tools) {
  const res = at.post(`${BASE_URL}/api/sessions/${sessionId}/messages`, JSON.stringify({ content }), {
    headers: { 'Content-Type': 'application/json' },
    tags: { name, kind: 'message' },
  });
  const body = res.status === 200 ? json(res) : undefined;
  const ok = check(res, {
    'status is 200, or 429 with retry': (r) => r.status === 200 || shed(r),
    'has an answer': (r) => shed(r) || Boolean(body && typeof body.content === 'string' && body.content.length > 0),
    'called a tool': (r) => !tools || shed(r) || Boolean(body && body.tool_calls && body.tool_calls.length > 0),
  });
  agentErrors.add(!ok);
  return ok && !shed(res) ? body : undefined;
}

function pick(list) {
  return list[Math.floor(Math.random() * list.length)];
}

export default function (data) {
  at.use(data);
  if (sessionId === undefined) sessionId = openSession();
  if (sessionId !== undefined) {
    const roll = Math.random() * 6;
    if (roll < 3) say('simple question', pick(SIMPLE), false);
    else if (roll < 5) say('tool calling', pick(TOOLS), true);
    else for (const content of CONVERSATION) if (say('conversation', content, false) === undefined) break;
  }
  sleep(THINK_S);
}

export function handleSummary(data) {
  return agenttraceSummary(data, { json: __ENV.SUMMARY_JSON || 'agenttrace-summary.json' });
}
