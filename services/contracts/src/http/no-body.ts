import { z } from 'zod';

/** A response without a body (204, 302, 304): the OpenAPI document shows it without content. */
export function noBody(description: string) {
  return z.undefined().describe(description);
}
