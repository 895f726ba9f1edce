import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ESM script with no type declarations
import { generate, OUTPUT } from '../scripts/gen-record-types.mjs';

describe('the record types (services/contracts/src/avro-records.ts)', () => {
  it('are what scripts/gen-record-types.mjs generates from schemas/avro/ today (npm run gen:records)', () => {
    expect(readFileSync(OUTPUT, 'utf8')).toBe(generate());
  });
});
