/**
 * What sharing session risk between API replicas (THOTH_SHARED_SESSIONS) costs the enforce path, in CPU per
 * decision: the isolated API of bench:enforce in distributed mode's configuration on the in-memory bus, sharing
 * off and on, alternately, BENCH_ROUNDS rounds of BENCH_DECISIONS enforce calls (16 in flight, through fastify's
 * inject: no sockets, so the figure is the process's own work). Publishing and reading the sessions topic happen
 * in this process, as on a replica (the in-memory bus stands in for Kafka's client).
 *
 *   npm run bench:sessions     # BENCH_ROUNDS=3 BENCH_DECISIONS=40000
 *
 * Prints one JSON line: the median CPU µs per decision each way and their ratio.
 */
import { BODY_TEMPLATE, POLICY } from './enforce-load.ts';
import { startIsolatedApi } from './isolated-api.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const DECISIONS = Number(process.env.BENCH_DECISIONS ?? 40_000);
const IN_FLIGHT = 16;

async function cpuPerDecision(shared: boolean): Promise<number> {
  const api = await startIsolatedApi({
    prefix: `bench-sessions-${shared}-${Date.now()}`,
    policy: POLICY,
    settings: {
      THOTH_MODE: 'distributed',
      // Never dialled: the isolated API runs on the in-memory bus whatever the mode says.
      KAFKA_BROKERS: '127.0.0.1:1',
      THOTH_ADMIN_TOKEN: 'bench-admin-token-0123456789abcdef',
      THOTH_SHARED_SESSIONS: String(shared),
    },
  });
  const headers = { authorization: `Bearer ${api.key}`, 'content-type': 'application/json' };
  const bodies = Array.from({ length: 256 }, (_, i) =>
    JSON.stringify({ ...BODY_TEMPLATE, session_id: `s-${i}` }),
  );
  const call = async (i: number) => {
    const r = await api.service.app.inject({
      method: 'POST',
      url: '/v1/enforce',
      headers,
      payload: bodies[i % 256],
    });
    if (r.statusCode !== 200) throw new Error(`enforce answered ${r.statusCode}: ${r.body}`);
  };
  for (let i = 0; i < 2_000; i++) await call(i); // warm-up
  const before = process.cpuUsage();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < DECISIONS) await call(next++);
    }),
  );
  await api.service.publisher.drain();
  const used = process.cpuUsage(before);
  await api.stop();
  return (used.user + used.system) / DECISIONS;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const off: number[] = [];
const on: number[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  off.push(await cpuPerDecision(false));
  on.push(await cpuPerDecision(true));
  console.error(
    `[bench:sessions] round ${round}: off ${off.at(-1)!.toFixed(1)} µs, on ${on.at(-1)!.toFixed(1)} µs`,
  );
}
const round1 = (x: number) => Math.round(x * 10) / 10;
console.log(
  JSON.stringify({
    cpu_us_per_decision_off: round1(median(off)),
    cpu_us_per_decision_on: round1(median(on)),
    ratio_on_to_off: Math.round((median(on) / median(off)) * 1000) / 1000,
    rounds: ROUNDS,
    decisions: DECISIONS,
  }),
);
process.exit(0);
