/**
 * What governance costs one tool call: a governed call (POST /v1/enforce to embedded Thoth on loopback, then
 * the tool) against the bare tool, in the same process.
 *
 *   npm run bench:sdk          # SDK_BENCH_CALLS=3000 SDK_BENCH_ROUNDS=3
 *
 * Thoth runs as a child process (its own event loop). Rounds alternate three modes so a difference would show:
 * - `off`:  telemetry disabled;
 * - `sink`: telemetry on, sent to a separate 202-answering process — the SDK's own cost of telemetry
 *           (enqueue on the call path, batching and sending in the background);
 * - `on`:   telemetry on, sent to the same embedded Thoth — adds the server's ingest work, which in embedded
 *           mode shares one event loop with the enforcer (in distributed mode ingest and enforce scale apart).
 * Progress goes to stderr; stdout is one JSON line: {"bare_us":…,"governed_p50_us":…,"governed_p99_us":…}
 * (governed = telemetry on, the default). Exit 1 if any call was not a plain ALLOW (a 429 failing open
 * would flatter the numbers).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { flush, type ThothOptions, wrapTool } from '../src/index.ts';
import { startEmbeddedThoth, TENANT } from '../test/support/embedded-thoth.ts';

const CALLS = Number(process.env.SDK_BENCH_CALLS ?? 3_000);
const ROUNDS = Number(process.env.SDK_BENCH_ROUNDS ?? 3);
const WARMUP = 500;
/** A session per this many calls: one endless session would look like a runaway agent to the detectors. */
const CALLS_PER_SESSION = 100;

const log = (message: string) => process.stderr.write(`${message}\n`);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function summary(samplesNs: bigint[]): { p50: number; p99: number } {
  const us = samplesNs.map((ns) => Number(ns) / 1_000).sort((a, b) => a - b);
  return { p50: Math.round(percentile(us, 50) * 10) / 10, p99: Math.round(percentile(us, 99) * 10) / 10 };
}

/** A stand-in ingest endpoint in its own process: reads the batch, answers 202. */
const SINK_SOURCE = `
const server = require('node:http').createServer((req, res) => {
  req.resume();
  req.on('end', () => { res.writeHead(202, { 'content-type': 'application/json' }); res.end('{}'); });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

async function startSink(): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, ['-e', SINK_SOURCE], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve) =>
    child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())),
  );
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGTERM') };
}

type Mode = 'off' | 'sink' | 'on';

const searchDocs = async (query: string) => `Found 3 docs matching: ${query}`;

async function main(): Promise<void> {
  const thoth = await startEmbeddedThoth('rules: []\n', {
    THOTH_RATE_LIMIT_PER_KEY: '1000000',
    THOTH_RATE_LIMIT_PER_TENANT: '1000000',
  });
  const sink = await startSink();
  let warnings = 0;
  const base: ThothOptions = {
    agentId: 'bench-agent',
    tenantId: TENANT,
    apiUrl: thoth.url,
    apiKey: thoth.agentKey,
    approvedScope: ['search_docs'],
    failOpen: false, // a failure must show up as an error, not as a fast fail-open
    logger: {
      warn: (message) => {
        warnings++;
        log(`warning: ${message}`);
      },
    },
  };

  const telemetryFor = (mode: Mode) => (mode === 'off' ? false : mode === 'sink' ? { apiUrl: sink.url } : {});

  async function measure(mode: Mode, calls: number): Promise<bigint[]> {
    const samples: bigint[] = [];
    let governed = wrapTool('search_docs', searchDocs, base);
    for (let i = 0; i < calls; i++) {
      if (i % CALLS_PER_SESSION === 0)
        governed = wrapTool('search_docs', searchDocs, {
          ...base,
          sessionId: randomUUID(),
          telemetry: telemetryFor(mode),
        });
      const started = process.hrtime.bigint();
      await governed('quarterly report');
      samples.push(process.hrtime.bigint() - started);
    }
    return samples;
  }

  try {
    const bare: bigint[] = [];
    for (let i = 0; i < CALLS; i++) {
      const started = process.hrtime.bigint();
      await searchDocs('quarterly report');
      bare.push(process.hrtime.bigint() - started);
    }
    const samples: Record<Mode, bigint[]> = { off: [], sink: [], on: [] };
    const modes: Mode[] = ['off', 'sink', 'on'];
    for (const mode of modes) await measure(mode, WARMUP);
    await flush();

    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of modes) {
        samples[mode].push(...(await measure(mode, CALLS)));
        // Drained between modes, so one mode's backlog is not sent during the next one's measurement.
        await flush();
      }
      log(
        `round ${round + 1}/${ROUNDS}: ${modes.map((m) => `${m} ${JSON.stringify(summary(samples[m]))}`).join(' ')}`,
      );
    }
    const off = summary(samples.off);
    const delta = (a: number, b: number) => Math.round((a - b) * 10) / 10;
    for (const mode of modes) {
      const { p50, p99 } = summary(samples[mode]);
      log(
        `telemetry ${mode.padEnd(4)}: p50 ${p50} µs (Δ ${delta(p50, off.p50)}), p99 ${p99} µs (Δ ${delta(p99, off.p99)})`,
      );
    }
    log(`telemetry totals: ${JSON.stringify(await flush())}`);
    const withTelemetry = summary(samples.on);
    if (warnings > 0) {
      log(`FAILED: ${warnings} warning(s) during the run`);
      process.exitCode = 1;
    }
    console.log(
      JSON.stringify({
        bare_us: summary(bare).p50,
        governed_p50_us: withTelemetry.p50,
        governed_p99_us: withTelemetry.p99,
      }),
    );
  } finally {
    sink.stop();
    await thoth.dispose();
  }
}

main().catch((error: unknown) => {
  log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(1);
});
