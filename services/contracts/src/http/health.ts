import { z } from 'zod';

/** GET /healthz: 200 once the process is ready (migrations ran, consumers subscribed), 503 before. */
export const healthReadySchema = z.object({ status: z.literal('ok') });
export const healthStartingSchema = z.object({ status: z.literal('starting') }).describe('not ready yet');

/** GET /openapi.json: this document. */
export const openApiDocumentSchema = z.record(z.string(), z.unknown()).describe('the OpenAPI document');
