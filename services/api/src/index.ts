// The package's one entry: what the Thoth runtime (services/thoth) starts and the CLI calls.

// The CLI's time filters read as the API's do.
export { resolveTime, TIME_FORMS } from '@thoth/contracts';
export { type ApiService, startApiService } from './api-service.ts';
