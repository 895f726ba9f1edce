/**
 * Keeps one known-harmless warning of a dependency off stderr, and prints every other warning as Node does.
 *
 * kafkajs 2.2.4 (its last release) arms a timer with a negative delay whenever its request queue is not
 * throttled (`RequestQueue.scheduleCheckPendingRequests`: `throttledUntil - Date.now()` with `throttledUntil`
 * = -1). The timer fires after 1 ms, as kafkajs means it to, but Node ≥ 22 prints a TimeoutNegativeWarning
 * for it, with a delay of minus the epoch time: every distributed process printed it at start, where it reads
 * like a fault. Only that warning, raised from kafkajs's request queue (its stack says so), is dropped.
 */
export function quietKnownWarnings(): void {
  const printers = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    if (isKafkajsNegativeTimeout(warning)) return;
    for (const print of printers) print.call(process, warning);
  });
}

export function isKafkajsNegativeTimeout(warning: Error): boolean {
  return (
    warning.name === 'TimeoutNegativeWarning' &&
    /kafkajs[\\/]src[\\/]network[\\/]requestQueue[\\/]/.test(warning.stack ?? '')
  );
}
