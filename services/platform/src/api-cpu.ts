import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { getPriority, setPriority } from 'node:os';
import type { Logger } from './logger.ts';

/**
 * A CPU of its own for the enforce path (`THOTH_API_OWN_CPU`, on by default in embedded mode). In a process that
 * serves the API and runs the consumers, the API's thread (the main thread) keeps to one of the process's CPUs and
 * every other thread — the consumers' thread, chDB's pools, libuv's pool, V8's collector helpers, a dry run's
 * thread — keeps off it, chDB's and libuv's threads at a lower priority than V8's helpers. Otherwise the kernel's
 * fair scheduler lets background threads take turns on the core where the API's thread waits. While the consumers
 * fall behind (nextShare), the background threads may use every CPU again. On the 2-core reference machine,
 * `bench:embedded`'s p99 at 1 connection went from 3.8–4.2 to a median of 2.9 ms, at 16 from 6.7–10 to 5.2 ms, its
 * ratio to the isolated API from 0.69–0.85 to 0.77–0.85, with the trail's lag p99 1.2–1.8 s; with the backlog
 * read every 250 ms, the lag p99 is 0.8–1.3 s (docs/performance.md).
 *
 * Linux only (thread affinity is set with util-linux's `taskset`, which every Debian system has); elsewhere, with
 * one CPU, or without `taskset`, nothing changes.
 */

/** `0-3,5,7-8` (the kernel's list format, as in /proc's `Cpus_allowed_list`) → [0,1,2,3,5,7,8]. */
export function parseCpuList(text: string): number[] {
  const cpus: number[] = [];
  for (const part of text.trim().split(',')) {
    if (part === '') continue;
    const match = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!match) throw new Error(`not a CPU list: ${JSON.stringify(text)}`);
    const first = Number(match[1]);
    const last = match[2] === undefined ? first : Number(match[2]);
    for (let cpu = first; cpu <= last; cpu++) cpus.push(cpu);
  }
  return cpus;
}

/** The API's CPU (the lowest allowed) and the background's (the rest), or undefined with fewer than two. */
export function splitCpus(allowed: readonly number[]): { api: number; background: number[] } | undefined {
  const sorted = [...new Set(allowed)].sort((a, b) => a - b);
  return sorted.length < 2 ? undefined : { api: sorted[0]!, background: sorted.slice(1) };
}

/**
 * Threads that keep their own priority: V8's collector helpers (`V8Worker`), which also run the API thread's
 * collections (with chDB's threads at their priority, 1 connection's p99 was 3.4–3.5 ms against 2.9:
 * docs/performance.md), and worker threads (`WorkerThread`: the consumers' thread sets its own; the signing
 * thread of per-decision receipts signs beside the API's thread, on the other CPUs, as it was made to).
 */
const OWN_PRIORITY = new Set(['V8Worker', 'WorkerThread']);

const cpusAllowed = async (tid: number): Promise<string | undefined> => {
  const status = await readFile(`/proc/self/task/${tid}/status`, 'utf8').catch(() => undefined);
  return status && /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1];
};

const taskset = (args: string[]): Promise<void> =>
  new Promise((resolve, reject) => execFile('taskset', args, (error) => (error ? reject(error) : resolve())));
const setAffinity = (tid: number, cpus: string) => taskset(['--pid', '--cpu-list', cpus, String(tid)]);
/**
 * Every thread of this process. taskset stops at the first thread it cannot move, and chDB ends threads by the
 * dozen under load: one that exited between taskset's listing and its move fails the call, so it is tried again.
 */
async function allThreads(cpus: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await taskset(['--all-tasks', '--pid', '--cpu-list', cpus, String(process.pid)]);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || attempt === 3) throw error;
    }
  }
}

/**
 * Where the background threads run: off the API's CPU (`own`), or — while the events they consume wait too long,
 * which on a saturated machine the one CPU left to them can cause — on every CPU (`shared`), as without the
 * reservation, until they caught up. The enforce path is fast first; the trail still never falls behind for good.
 */
export type CpuShare = 'own' | 'shared';

/**
 * Shared once the oldest event not yet consumed has waited this long (the audit writer stores every 250 ms). With a
 * check a second, at 1 s the trail's lag p99 under bench:embedded's saturation passed 2 s in two runs of eight; at
 * 0.7 s in none of five, for a little less throughput at saturation. With a check every 250 ms (CHECK_MS) it stayed
 * at or under 1.05 s in four runs of four; at 1 s it passed 2 s again in one of four (docs/performance.md).
 */
export const SHARE_AFTER_MS = 700;
/** Own again once the backlog stayed below OWN_BELOW_MS this long (checks in a row). */
export const OWN_BELOW_MS = 400;
export const CALM_MS = 3_000;
/**
 * How often the backlog is read. A backlog grows by up to this much between two reads, so it is part of how far
 * past SHARE_AFTER_MS the trail can fall before the background gets more CPU (a read is a few map lookups). The
 * threads are listed every THREAD_SCAN_MS only: that reads /proc once per thread started since.
 */
export const CHECK_MS = 250;
export const THREAD_SCAN_MS = 1_000;

export interface ShareState {
  share: CpuShare;
  /** While shared: how long the backlog has stayed below OWN_BELOW_MS (the checks in a row that found it so). */
  calmMs: number;
}

/**
 * The next state after a check, `sinceMs` after the one before, that found the oldest pending event `backlogMs`
 * old.
 */
export function nextShare(state: ShareState, backlogMs: number, sinceMs: number): ShareState {
  if (state.share === 'own')
    return backlogMs > SHARE_AFTER_MS ? { share: 'shared', calmMs: 0 } : { share: 'own', calmMs: 0 };
  const calmMs = backlogMs < OWN_BELOW_MS ? state.calmMs + sinceMs : 0;
  return calmMs >= CALM_MS ? { share: 'own', calmMs: 0 } : { share: 'shared', calmMs };
}

export interface ApiCpuReservation {
  share(): CpuShare;
  /**
   * One check, as the timer makes every `checkMs`: the backlog, then (every `threadScanMs`) the threads started
   * since.
   */
  check(): Promise<void>;
  /** No more checks (a running one finishes first). The threads stay where they are: the process is ending. */
  stop(): Promise<void>;
}

/**
 * Keeps the calling (main) thread on the lowest of the process's CPUs and every other thread off it, lowering
 * their priority to `backgroundNice` (but for OWN_PRIORITY's). Every `checkMs` it reads `backlogMs()` (how long
 * the oldest event the consumers have not committed has waited) to switch between `own` and `shared`
 * (nextShare), and every `threadScanMs` it lists /proc/self/task for threads started since: a thread started by
 * one kept off the API's CPU inherits that; those the main thread starts are moved. Returns undefined, having said
 * why, where it does not apply.
 */
export async function reserveCpuForApiThread(
  log: Logger,
  options: {
    /** The nice value of the other threads (chDB's, libuv's), but for those in OWN_PRIORITY. */
    backgroundNice: number;
    /** How long the oldest event the CPU-bound consumers (audit writer, baselines) have not committed waited. */
    backlogMs: () => Promise<number>;
    checkMs?: number;
    threadScanMs?: number;
  },
): Promise<ApiCpuReservation | undefined> {
  const { backgroundNice, backlogMs, checkMs = CHECK_MS, threadScanMs = THREAD_SCAN_MS } = options;
  if (process.platform !== 'linux') return undefined;
  const mainAllowed = (await cpusAllowed(process.pid))?.trim();
  const cpus = mainAllowed === undefined ? undefined : splitCpus(parseCpuList(mainAllowed));
  if (!mainAllowed || !cpus) {
    log.info({ cpus: mainAllowed }, 'one CPU: the enforce path shares it with the background threads');
    return undefined;
  }
  const list = cpus.background.join(',');
  const apiCpu = cpus.api;
  let state: ShareState = { share: 'own', calmMs: 0 };
  const seen = new Set<number>();

  // taskset forks this process: a whole process's threads (`--all-tasks`) are moved with one call.
  const keepOwn = async () => {
    await allThreads(list);
    await setAffinity(process.pid, String(apiCpu));
  };
  const newThreads = async (): Promise<void> => {
    const present = (await readdir('/proc/self/task')).map(Number);
    // A thread id can be reused once its thread is gone: forget those no longer present.
    const alive = new Set(present);
    for (const tid of seen) if (!alive.has(tid)) seen.delete(tid);
    for (const tid of present) {
      if (tid === process.pid || seen.has(tid)) continue;
      seen.add(tid);
      try {
        const name = (await readFile(`/proc/self/task/${tid}/comm`, 'utf8')).trim();
        // Only ever lowered (raising a priority needs privileges); Linux keeps a nice value per thread.
        if (!OWN_PRIORITY.has(name) && getPriority(tid) < backgroundNice) setPriority(tid, backgroundNice);
        if (state.share !== 'own') continue;
        // Most new threads are chDB's, started by a thread already kept off the API's CPU, whose affinity they
        // inherited: only one the main thread started is moved.
        const current = await cpusAllowed(tid);
        if (current !== undefined && parseCpuList(current).join(',') !== list) await setAffinity(tid, list);
      } catch {
        // gone since the listing (ENOENT from /proc, ESRCH, taskset's exit status)
      }
    }
  };
  try {
    await keepOwn();
    await newThreads();
  } catch (error) {
    // Half done, the API's thread could be left beside the background: every thread back on every CPU.
    await allThreads(mainAllowed).catch(() => undefined);
    log.warn(
      { err: error },
      (error as NodeJS.ErrnoException).code === 'ENOENT'
        ? "util-linux's taskset is not installed: the enforce path shares every CPU with the background threads"
        : 'could not keep a CPU for the enforce path: it shares every CPU with the background threads',
    );
    return undefined;
  }

  let checking: Promise<void> | undefined;
  let stopped = false;
  // The threads are listed every this many checks.
  const scanEvery = Math.max(1, Math.round(threadScanMs / checkMs));
  let checks = 0;
  const checkOnce = async (): Promise<void> => {
    const backlog = await backlogMs();
    // Calm counts checks, as the timer makes them (one every checkMs), not the clock: a check that waited for a
    // core counts no more than one on time.
    const next = nextShare(state, backlog, checkMs);
    if (stopped) return;
    if (next.share !== state.share) {
      if (next.share === 'shared') {
        await allThreads(mainAllowed);
        log.info(
          { backlog_ms: backlog },
          "the consumers fall behind: background threads may use the enforce path's CPU until they caught up",
        );
      } else {
        await keepOwn();
        log.info({ backlog_ms: backlog }, 'the consumers caught up: the enforce path keeps its CPU again');
      }
    }
    state = next;
    if (stopped || ++checks % scanEvery !== 0) return;
    await newThreads();
  };
  const check = (): Promise<void> => {
    checking ??= checkOnce().finally(() => {
      checking = undefined;
    });
    return checking;
  };
  const timer = setInterval(() => {
    check().catch((error) => log.warn({ err: error }, "keeping the enforce path's CPU failed"));
  }, checkMs);
  timer.unref();
  log.info(
    { api_cpu: apiCpu, background_cpus: list },
    'the enforce path keeps a CPU to itself: background threads run on the others',
  );
  return {
    share: () => state.share,
    check,
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await checking?.catch(() => undefined);
    },
  };
}
