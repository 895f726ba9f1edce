import { z } from 'zod';

/**
 * Bounds on a free-form JSON value a client sends (tool arguments, metadata, task context): every later step
 * — redaction, canonical JSON, the CEL view, Avro encoding, the trail — walks it, so its size is what a
 * request costs. The body limit bounds the bytes; these bound the shape, whatever the bytes.
 */
export interface JsonBudget {
  /** Object members and array items together, at every level. */
  maxValues: number;
  maxArrayLength: number;
  /** Characters of one string (a key or a value). */
  maxStringLength: number;
  /** Approximate JSON size: characters of strings and keys, plus a few per number, literal or member. */
  maxBytes: number;
}

/**
 * Far above real tool calls (a few dozen arguments, a file's content), far below what holds a decision: at
 * 20,000 values a decision still takes a few milliseconds of the event loop.
 */
export const FREE_JSON_BUDGET: JsonBudget = {
  maxValues: 20_000,
  maxArrayLength: 10_000,
  maxStringLength: 1_048_576,
  maxBytes: 2 * 1_048_576,
};

/** The first limit of `budget` that `value` exceeds, as a sentence; undefined when it fits. Iterative. */
export function jsonBudgetExceeded(value: unknown, budget: JsonBudget): string | undefined {
  let values = 0;
  let bytes = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node === 'string') {
      if (node.length > budget.maxStringLength)
        return `a string of ${node.length} characters is over the limit of ${budget.maxStringLength}`;
      bytes += node.length + 2;
    } else if (Array.isArray(node)) {
      if (node.length > budget.maxArrayLength)
        return `an array of ${node.length} items is over the limit of ${budget.maxArrayLength}`;
      values += node.length;
      bytes += 2 + node.length;
      for (const item of node) stack.push(item);
    } else if (node !== null && typeof node === 'object') {
      for (const key in node) {
        if (key.length > budget.maxStringLength)
          return `a key of ${key.length} characters is over the limit of ${budget.maxStringLength}`;
        values++;
        bytes += key.length + 4;
        stack.push((node as Record<string, unknown>)[key]);
      }
      bytes += 2;
    } else if (typeof node === 'number' && !Number.isFinite(node)) {
      // JSON.parse reads 1e400 as Infinity, which no canonical JSON (receipts, digests) can write back.
      return 'a number beyond the range of a double (e.g. 1e400)';
    } else bytes += 8;
    if (values > budget.maxValues)
      return `more than ${budget.maxValues} values (object members and array items together)`;
    if (bytes > budget.maxBytes) return `about ${bytes} bytes of JSON, over the limit of ${budget.maxBytes}`;
  }
  return undefined;
}

/** A zod schema of any JSON value within `budget`: an oversized one fails validation naming the limit. */
export function budgetedJson(budget: JsonBudget = FREE_JSON_BUDGET) {
  return z.unknown().superRefine((value, ctx) => {
    const exceeded = jsonBudgetExceeded(value, budget);
    if (exceeded) ctx.addIssue({ code: 'custom', message: exceeded });
  });
}
