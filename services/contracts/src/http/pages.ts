import { z } from 'zod';

/** `page` (from 1) and `per_page` (up to 500) of a list read (docs/protocol.md §SOC and control-plane reads). */
export const pageQuerySchema = z.object({
  page: z.coerce.number().int().min(1).max(100_000).default(1),
  per_page: z.coerce.number().int().min(1).max(500).default(50),
});

/** A page of a list: `{"data": […], "total": N, "page": P, "per_page": K}`. */
export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({
    data: z.array(item),
    total: z.int().describe('items matching, on every page'),
    page: z.int(),
    per_page: z.int(),
  });
}
