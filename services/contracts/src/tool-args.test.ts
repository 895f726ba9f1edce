import { describe, expect, it } from 'vitest';
import { applyArgsTransform, argsView } from './tool-args.ts';

describe('argsView', () => {
  it('(a) shows a single dict argument as is', () => {
    expect(argsView({ path: '/tmp/x', mode: 'w' })).toEqual({ path: '/tmp/x', mode: 'w' });
  });

  it('(b) shows positionals as arg0.. and kwargs by name, a kwarg winning over a positional dict key', () => {
    expect(argsView({ args: ['/tmp/x', 3], kwargs: { mode: 'w' } })).toEqual({
      arg0: '/tmp/x',
      arg1: 3,
      mode: 'w',
    });
    expect(argsView({ args: [{ amount: 5, to: 'a' }], kwargs: { to: 'b' } })).toEqual({
      amount: 5,
      to: 'b',
      arg0: { amount: 5, to: 'a' },
    });
  });

  it('(b) merges the keys of a single dict positional, but not when there are several positionals', () => {
    expect(argsView({ args: [{ amount: 5 }] })).toEqual({ amount: 5, arg0: { amount: 5 } });
    expect(argsView({ args: [{ amount: 5 }, 'x'] })).toEqual({ arg0: { amount: 5 }, arg1: 'x' });
  });

  it('(c) shows indexed positionals as received, merging a lone dict arg0', () => {
    expect(argsView({ arg0: 'a', arg1: 2 })).toEqual({ arg0: 'a', arg1: 2 });
    expect(argsView({ arg0: { q: 'x' } })).toEqual({ q: 'x', arg0: { q: 'x' } });
  });

  it('reads a dict with extra keys next to args as shape (a)', () => {
    expect(argsView({ args: [1], query: 'x' })).toEqual({ args: [1], query: 'x' });
    expect(argsView({ args: 'not-a-list' })).toEqual({ args: 'not-a-list' });
  });

  it('shows nothing as {} and bare values as positionals', () => {
    expect(argsView(undefined)).toEqual({});
    expect(argsView(null)).toEqual({});
    expect(argsView('hello')).toEqual({ arg0: 'hello' });
    expect(argsView([1, 'two'])).toEqual({ arg0: 1, arg1: 'two' });
  });
});

describe('applyArgsTransform', () => {
  it('(a) returns the whole dict, redacted, with removals and sets applied', () => {
    const received = { to: 'a@b.c', ssn: '123-45-6789', body: 'hi', debug: true };
    const modified = applyArgsTransform(received, {
      redact: ['ssn'],
      remove: ['debug'],
      set: { cc: 'audit@x' },
    });
    expect(modified).toEqual({ to: 'a@b.c', ssn: '[REDACTED]', body: 'hi', cc: 'audit@x' });
    expect(received).toEqual({ to: 'a@b.c', ssn: '123-45-6789', body: 'hi', debug: true });
  });

  it('(b) returns an args array for the positionals and kwargs for the keywords', () => {
    const modified = applyArgsTransform(
      { args: ['/etc/passwd', 'r'], kwargs: { token: 's3cr3t' } },
      { set: { arg0: '/tmp/safe.txt' }, redact: ['token'] },
    );
    expect(modified).toEqual({ args: ['/tmp/safe.txt', 'r'], kwargs: { token: '[REDACTED]' } });
  });

  it('(b) redacts a key of a single dict positional everywhere the name lives', () => {
    const modified = applyArgsTransform(
      { args: [{ card: '4111', amount: 5 }], kwargs: { card: '4111' } },
      {
        redact: ['card'],
      },
    );
    expect(modified).toEqual({ args: [{ card: '[REDACTED]', amount: 5 }], kwargs: { card: '[REDACTED]' } });
  });

  it('(b) puts new names into kwargs (created when absent), or into a lone dict positional', () => {
    expect(applyArgsTransform({ args: ['x'] }, { set: { dry_run: true } })).toEqual({
      args: ['x'],
      kwargs: { dry_run: true },
    });
    expect(applyArgsTransform({ args: [{ q: 'x' }] }, { set: { limit: 10 } })).toEqual({
      args: [{ q: 'x', limit: 10 }],
    });
  });

  it('(b) removing a positional nulls it instead of shifting the later ones', () => {
    expect(applyArgsTransform({ args: ['a', 'b', 'c'] }, { remove: ['arg1'] })).toEqual({
      args: ['a', null, 'c'],
    });
  });

  it('(c) returns arg0.. keys, replacing the single positional', () => {
    expect(applyArgsTransform({ arg0: 'rm -rf /' }, { set: { arg0: 'echo blocked' } })).toEqual({
      arg0: 'echo blocked',
    });
    expect(
      applyArgsTransform({ arg0: { cmd: 'ls', secret: 'x' } }, { redact: ['secret'], set: { cwd: '/tmp' } }),
    ).toEqual({ arg0: { cmd: 'ls', secret: '[REDACTED]', cwd: '/tmp' } });
  });

  it('keeps a bare scalar or list in its shape', () => {
    expect(applyArgsTransform('select * from users', { redact: ['arg0'] })).toBe('[REDACTED]');
    expect(applyArgsTransform(['a', 'b'], { set: { arg1: 'c' } })).toEqual(['a', 'c']);
  });

  it('creates a dict for missing args when a value is set, else keeps them missing', () => {
    expect(applyArgsTransform(undefined, { set: { safe: true } })).toEqual({ safe: true });
    expect(applyArgsTransform(undefined, { redact: ['x'] })).toBeUndefined();
  });

  it('follows dotted paths into nested dicts and lists, and creates missing nested keys on set', () => {
    const received = { user: { name: 'x', card: { number: '4111', exp: '12/30' } }, items: [{ sku: 1 }] };
    const modified = applyArgsTransform(received, {
      redact: ['user.card.number', 'items.0.sku', 'user.nope.x'],
      set: { 'user.card.masked': true, 'options.safe': true },
    });
    expect(modified).toEqual({
      user: { name: 'x', card: { number: '[REDACTED]', exp: '12/30', masked: true } },
      items: [{ sku: '[REDACTED]' }],
      options: { safe: true },
    });
  });

  it('prefers a literal dotted key over a nested path', () => {
    expect(applyArgsTransform({ 'a.b': 1, a: { b: 2 } }, { redact: ['a.b'] })).toEqual({
      'a.b': '[REDACTED]',
      a: { b: 2 },
    });
  });

  it('does not share set values between outputs and the policy', () => {
    const set = { tags: ['x'] };
    const modified = applyArgsTransform({}, { set }) as { tags: string[] };
    modified.tags.push('y');
    expect(set.tags).toEqual(['x']);
  });
});
