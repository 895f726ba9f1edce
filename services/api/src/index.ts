// The package's one entry: what the Thoth runtime (services/thoth) starts and the CLI calls.
export { type ApiService, startApiService } from './api-service.ts';
export { resolveTime, TIME_FORMS } from './soc/audit-queries.ts';
