/**
 * Load test of the example agent service (examples/service.py) with agenttrace's k6 module.
 *
 *   agenttrace k6 copy examples/k6                      # once: k6 imports the module from a local file
 *   k6 run examples/k6/agent-test.js                    # BASE_URL defaults to http://127.0.0.1:8000
 *   SCALE=0.05 THINK_S=0 k6 run examples/k6/agent-test.js   # a quick run: 1/20 of the users and of the time
 *
 * Virtual users ramp 10 -> 50 -> 100, hold, then ramp down to 0. Every request carries a new traceparent and
 * baggage with the run id (AGENTTRACE_RUN_ID, --tag run_id=..., or one picked in setup), the scenario and the
 * VU, so the run's traces can be found and reported on. Thresholds gate the run on latency (end to end and per
 * agent stage, from Server-Timing) and on errors; k6 exits 99 when one is crossed. The per-stage summary goes
 * to stdout and to agenttrace-summary.json (SUMMARY_JSON).
 */
import { check, sleep } from 'k6';
import { AgentTrace, agenttraceSummary } from './agenttrace.js';

const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8000';
const SCALE = Number(__ENV.SCALE || 1);
const THINK_S = __ENV.THINK_S === undefined ? 1 : Number(__ENV.THINK_S);
if (!(SCALE > 0)) throw new Error(`SCALE must be a number > 0, got '${__ENV.SCALE}'`);
if (!(THINK_S >= 0)) throw new Error(`THINK_S must be a number >= 0, got '${__ENV.THINK_S}'`);

const users = (n) => (n === 0 ? 0 : Math.max(1, Math.round(n * SCALE)));
const during = (seconds) => `${Math.max(100, Math.round(seconds * 1000 * SCALE))}ms`;

// The stages examples/agent.py records; others still land in agenttrace_stage{stage:<name>}.
const at = new AgentTrace({ stages: ['context_load', 'llm_call', 'tool_execution'] });

export const options = {
  scenarios: {
    tickets: {
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
    'http_req_duration{name:ticket}': ['p(95)<15000'],
    http_req_failed: ['rate<0.01'],
    checks: ['rate>0.99'],
    agenttrace_stage_llm_call: ['p(95)<15000'],
    agenttrace_stage_tool_execution: ['p(95)<5000'],
  },
  summaryTrendStats: ['avg', 'p(50)', 'p(95)', 'p(99)', 'max', 'count'],
};

export function setup() {
  return at.setup();
}

function answerOf(res) {
  try {
    return res.json('answer');
  } catch (e) {
    return undefined; // not JSON: the check fails
  }
}

export default function (data) {
  const res = at.use(data).post(`${BASE_URL}/tickets/session-${__VU}-${__ITER}`, null, { tags: { name: 'ticket' } });
  check(res, {
    'status is 200': (r) => r.status === 200,
    'has an answer': (r) => {
      const answer = answerOf(r);
      return typeof answer === 'string' && answer.length > 0;
    },
    'has Server-Timing': (r) => 'Server-Timing' in r.headers,
  });
  sleep(THINK_S);
}

export function handleSummary(data) {
  return agenttraceSummary(data, { json: __ENV.SUMMARY_JSON || 'agenttrace-summary.json' });
}
