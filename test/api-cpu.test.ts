import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseCpuList, splitCpus } from '@thoth/platform';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from './helpers.ts';

const ROOT = resolve(import.meta.dirname, '..');
const dataDir = mkdtempSync(join(tmpdir(), 'thoth-api-cpu-'));
let child: ChildProcess | undefined;

afterAll(() => {
  child?.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

const allowed = (pid: number, tid: number): string =>
  /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))![1]!;
const threads = (pid: number) => readdirSync(`/proc/${pid}/task`).map(Number);
const processCpus = allowed(process.pid, process.pid);
const cpus = splitCpus(parseCpuList(processCpus));
const background = cpus?.background;
const cpusOf = (pid: number, tid: number) => parseCpuList(allowed(pid, tid));

describe.runIf(process.platform === 'linux')('THOTH_API_OWN_CPU=true', () => {
  it("npm start keeps every thread but the API's off one CPU", async () => {
    const port = await freePort();
    child = spawn(process.execPath, ['services/thoth/dist/main.js'], {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: String(port),
        THOTH_DATA_DIR: dataDir,
        THOTH_API_OWN_CPU: 'true',
        LOG_LEVEL: 'warn',
        THOTH_ADMIN_TOKEN: '',
      },
      stdio: 'ignore',
    });
    // Ready (200) only once the reservation is made: runtime.ts makes it before it calls itself ready.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const status = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200) break;
      if (Date.now() > deadline || child.exitCode !== null) throw new Error('Thoth did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    const pid = child.pid!;
    const all = threads(pid);
    expect(all.length).toBeGreaterThan(10); // the consumers' thread, chDB's pools, libuv's, V8's
    // The API's thread keeps to the CPU the others leave.
    expect(cpusOf(pid, pid)).toEqual(cpus ? [cpus.api] : parseCpuList(processCpus));
    for (const tid of all)
      if (tid !== pid)
        // With one CPU there is nothing to keep apart, and nothing is pinned.
        expect(cpusOf(pid, tid), `thread ${tid}`).toEqual(background ?? parseCpuList(processCpus));
  }, 60_000);

  it.runIf(background !== undefined)(
    'moves the threads started later, lowers their priority, and shares the CPU while the consumers fall behind',
    async () => {
      // A process of its own: pinning this test runner's threads would slow the rest of the suite. Its timer is
      // set far out: the child checks when told to on stdin, with the backlog given there.
      const script = `
        import { createInterface } from 'node:readline';
        import { Worker } from 'node:worker_threads';
        import { createLogger, reserveCpuForApiThread } from '@thoth/platform';
        let backlog = 0;
        const reservation = await reserveCpuForApiThread(createLogger('silent'), {
          backgroundNice: 7,
          backlogMs: async () => backlog,
          checkMs: 600_000,
          threadScanMs: 0,
        });
        if (!reservation) throw new Error('no reservation');
        const worker = new Worker('setInterval(() => {}, 1000)', { eval: true });
        await new Promise((r) => worker.once('online', r));
        process.stdout.write('started\\n');
        for await (const line of createInterface({ input: process.stdin })) {
          backlog = Number(line);
          await reservation.check();
          process.stdout.write(reservation.share() + '\\n');
        }
      `;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        cwd: ROOT,
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      try {
        let output = '';
        child.stdout.on('data', (d) => (output += d));
        const lines = () => output.split('\n').filter(Boolean);
        const said = async (count: number): Promise<string> => {
          const deadline = Date.now() + 20_000;
          while (lines().length < count) {
            if (Date.now() > deadline || child.exitCode !== null)
              throw new Error(`the child said only: ${output}`);
            await new Promise((r) => setTimeout(r, 20));
          }
          return lines()[count - 1]!;
        };
        const check = async (backlogMs: number, count: number): Promise<string> => {
          child.stdin.write(`${backlogMs}\n`);
          return said(count);
        };
        expect(await said(1)).toBe('started');
        const pid = child.pid!;
        const others = () => threads(pid).filter((tid) => tid !== pid);
        const offApiCpu = () =>
          others().filter((tid) => cpusOf(pid, tid).join(',') !== background!.join(','));
        // The worker's thread (and any helper it brought) started with the main thread's affinity.
        expect(offApiCpu().length).toBeGreaterThan(0);

        expect(await check(0, 2)).toBe('own');
        expect(offApiCpu()).toEqual([]);
        expect(cpusOf(pid, pid)).toEqual([cpus!.api]);
        // Lowered, but for V8's helpers and worker threads (which set their own): field 19 of stat is the nice value.
        const nice = (tid: number) =>
          Number(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
        const comm = (tid: number) => readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
        const lowered = others().filter((tid) => !['V8Worker', 'WorkerThread'].includes(comm(tid)));
        expect(lowered.length).toBeGreaterThan(0);
        // Only ever lowered: a test run under `nice` starts above 7 already.
        const started = getPriority();
        for (const tid of lowered) expect(nice(tid), comm(tid)).toBe(Math.max(7, started));
        expect(nice(pid)).toBe(started);

        // The consumers fall behind: every thread may use every CPU, the API's thread too.
        expect(await check(5_000, 3)).toBe('shared');
        for (const tid of threads(pid)) expect(cpusOf(pid, tid)).toEqual(parseCpuList(processCpus));
        // Below the threshold but not calm yet: still shared. Then calm: with a check every 600 s, one calm
        // check is calm long enough (CALM_MS), and the CPU is the API's again.
        expect(await check(600, 4)).toBe('shared');
        expect(await check(100, 5)).toBe('own');
        expect(offApiCpu()).toEqual([]);
        expect(cpusOf(pid, pid)).toEqual([cpus!.api]);
      } finally {
        child.kill('SIGKILL');
      }
    },
    30_000,
  );
});
