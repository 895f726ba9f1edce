import { ConfigError, createLogger, loadConfig } from '@thoth/platform';
import { quietKnownWarnings } from './process-warnings.ts';
import { startRuntime } from './runtime.ts';
import { startSummary } from './start-summary.ts';

/** `npm start`: Thoth as one process (embedded default) or the services of THOTH_SERVICES (distributed). */
async function main(): Promise<void> {
  quietKnownWarnings();
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`thoth: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
  const log = createLogger(config.LOG_LEVEL);
  const started = Date.now();
  const runtime = await startRuntime(config, log);
  const url = `http://${config.HOST}:${config.PORT}`;
  log.info({ mode: config.THOTH_MODE, url, ms: Date.now() - started }, 'thoth ready');
  process.stdout.write(`${startSummary(runtime.facts)}\n`);

  if (
    runtime.api &&
    config.THOTH_MODE === 'embedded' &&
    !config.THOTH_ADMIN_TOKEN &&
    config.THOTH_PRINT_ADMIN_TOKEN
  ) {
    process.stdout.write(
      [
        '',
        `Admin token (kept in ${config.THOTH_DATA_DIR}/admin-token): ${runtime.adminToken}`,
        'Create an API key for a tenant:',
        `  curl -s -X POST ${url}/acme-corp/thoth/api-keys \\`,
        `    -H "Authorization: Bearer ${runtime.adminToken}" -H "Content-Type: application/json" \\`,
        `    -d '{"name":"quickstart","permissions":["execute","write","read"]}'`,
        '',
      ].join('\n'),
    );
  }

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'draining and stopping');
    const force = setTimeout(() => {
      log.error('shutdown took longer than 30 s; exiting');
      process.exit(1);
    }, 30_000);
    force.unref();
    runtime.stop().then(
      () => {
        log.info('stopped');
        process.exit(process.exitCode ?? 0);
      },
      (error: unknown) => {
        log.error({ err: error }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  console.error('thoth: failed to start:', error instanceof Error ? error.message : error);
  process.exit(1);
});
