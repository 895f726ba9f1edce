import { describe, expect, it } from 'vitest';
import { applyModifiedArgs, jsonSafe, toWireToolArgs } from './tool-args.ts';

describe('toWireToolArgs', () => {
  it('sends a lone dict argument as itself, anything else as {args}', () => {
    expect(toWireToolArgs([{ amount: 5 }])).toEqual({ shape: 'dict', toolArgs: { amount: 5 } });
    expect(toWireToolArgs(['INV-001', 1500])).toEqual({
      shape: 'call',
      toolArgs: { args: ['INV-001', 1500] },
    });
    expect(toWireToolArgs([])).toEqual({ shape: 'call', toolArgs: { args: [] } });
  });

  it('wraps a dict that would be misread as a call shape', () => {
    expect(toWireToolArgs([{ args: [1] }])).toEqual({ shape: 'call', toolArgs: { args: [{ args: [1] }] } });
  });

  it('never throws on values JSON cannot hold', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(toWireToolArgs([10n, cyclic]).toolArgs).toEqual({ args: ['10', '[unserializable]'] });
    expect(jsonSafe(undefined)).toBeNull();
  });
});

describe('applyModifiedArgs', () => {
  it('replaces positionals from an args array and folds kwargs into a trailing options object', () => {
    expect(applyModifiedArgs(['a', 1], 'call', { args: ['b', 2] })).toEqual({ ok: true, args: ['b', 2] });
    expect(applyModifiedArgs(['a', { x: 1 }], 'call', { args: ['a', { x: 1 }], kwargs: { y: 2 } })).toEqual({
      ok: true,
      args: ['a', { x: 1, y: 2 }],
    });
    expect(applyModifiedArgs(['a'], 'call', { args: ['a'], kwargs: { y: 2 } })).toEqual({
      ok: true,
      args: ['a', { y: 2 }],
    });
  });

  it('replaces a single dict argument whole', () => {
    expect(applyModifiedArgs([{ card_number: '4111' }], 'dict', { card_number: '[REDACTED]' })).toEqual({
      ok: true,
      args: [{ card_number: '[REDACTED]' }],
    });
  });

  it('replaces named positionals from arg0… and input', () => {
    expect(applyModifiedArgs(['a', 'b'], 'call', { arg1: 'B' })).toEqual({ ok: true, args: ['a', 'B'] });
    expect(applyModifiedArgs(['a'], 'call', { input: 'x' })).toEqual({ ok: true, args: ['x'] });
  });

  it('refuses what it cannot apply (the tool must not run unmodified)', () => {
    expect(applyModifiedArgs(['a'], 'call', 'nonsense').ok).toBe(false);
    expect(applyModifiedArgs(['a'], 'call', { other: 1 }).ok).toBe(false);
  });
});
