import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { metricsRegistry } from './metrics-registry.ts';
import { addThreadRegistry, startMetricsServer } from './metrics-server.ts';

describe('the metrics listener', () => {
  it("serves this thread's registry merged with another's, /healthz once ready, and names the port in use", async () => {
    new Counter({ name: 'thoth_test_this_thread_total', help: 'h', registers: [metricsRegistry] }).inc(2);
    // Another thread's registry, as its JSON arrives over the bridge (a structured clone).
    const other = new Registry();
    new Counter({ name: 'thoth_test_other_thread_total', help: 'h', registers: [other] }).inc(3);
    const remove = addThreadRegistry(async () => structuredClone(await other.getMetricsAsJSON()));
    let ready = false;
    const server = await startMetricsServer('127.0.0.1', 0, () => ready);
    const base = `http://127.0.0.1:${server.port}`;
    try {
      const metrics = await fetch(`${base}/metrics`);
      expect(metrics.headers.get('content-type')).toContain('text/plain; version=0.0.4');
      const text = await metrics.text();
      expect(text).toContain('thoth_test_other_thread_total 3');
      expect(text).toContain('thoth_test_this_thread_total 2');
      expect((await fetch(`${base}/healthz`)).status).toBe(503);
      ready = true;
      expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
      expect((await fetch(`${base}/nope`)).status).toBe(404);
      await expect(startMetricsServer('127.0.0.1', server.port)).rejects.toThrow(
        `THOTH_METRICS_PORT: 127.0.0.1:${server.port} is already in use`,
      );
      // A thread that stopped answering is left out, the scrape still answers.
      remove();
      const gone = addThreadRegistry(() => Promise.reject(new Error('thread gone')));
      const without = await (await fetch(`${base}/metrics`)).text();
      gone();
      expect(without).not.toContain('thoth_test_other_thread_total');
      expect(without).toContain('thoth_test_this_thread_total 2');
    } finally {
      await server.close();
    }
  });
});
