import { describe, expect, it } from 'vitest';
import {
  createRedactor,
  DEFAULT_REDACTION_GROUPS,
  invalidCustomPattern,
  noRedaction,
  redactedMark,
} from './redaction.ts';

const redactor = createRedactor({ groups: DEFAULT_REDACTION_GROUPS });
const PEM = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----';

describe('createRedactor', () => {
  it('redacts the shortest match of every built-in pattern (strings shorter than it skip the pattern)', () => {
    const all = createRedactor({ groups: [...DEFAULT_REDACTION_GROUPS, 'emails'] });
    const shortest = [
      `thoth_test_${'a'.repeat(16)}`,
      `sk-${'a'.repeat(20)}`,
      `rk_live_${'a'.repeat(8)}`,
      `AKIA${'A'.repeat(16)}`,
      `ghp_${'a'.repeat(30)}`,
      `xoxb-${'a'.repeat(10)}`,
      `AIza${'a'.repeat(35)}`,
      'Basic abcdefgh',
      'eyJabcde.abcde.abcde',
      '4000000000006',
      '-----BEGIN PRIVATE KEY-----',
      'a@b.cd',
    ];
    for (const secret of shortest)
      expect(all.text(secret), secret).toMatch(/^(Basic )?\[REDACTED:[a-z_]+\]$/);
    expect(all.text('4000000000006'.slice(1))).toBe('000000000006');
  });

  it('redacts bearer tokens, card numbers, private keys and well-known API keys in text', () => {
    const input = [
      'Authorization: Bearer abc.def-123_456789',
      'card 4111 1111 1111 1111 exp 12/29',
      'amex 3782-822463-10005',
      PEM,
      'keys thoth_live_AbCdEfGhIjKlMnOpQrStUv sk-proj-abcdefghijklmnopqrstuv AKIAIOSFODNN7EXAMPLE',
      'github ghp_abcdefghijklmnopqrstuvwxyz0123456789',
    ].join('\n');
    const out = redactor.text(input);
    for (const secret of [
      'abc.def-123_456789',
      '4111 1111 1111 1111',
      '3782-822463-10005',
      'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC',
      'thoth_live_AbCdEfGhIjKlMnOpQrStUv',
      'sk-proj-abcdefghijklmnopqrstuv',
      'AKIAIOSFODNN7EXAMPLE',
      'ghp_abcdefghijklmnopqrstuvwxyz0123456789',
    ])
      expect(out).not.toContain(secret);
    expect(out).toContain(`Bearer ${redactedMark('bearer_token')}`);
    expect(out).toContain(`card ${redactedMark('card_number')} exp 12/29`);
    expect(out).toContain(redactedMark('private_key'));
  });

  it('keeps numbers that are not cards: timestamps, amounts, ids failing Luhn', () => {
    const text = 'at 1764000000000 paid 1500.00 for order 4111111111111112 ref 5555';
    expect(redactor.text(text)).toBe(text);
  });

  it('walks objects and arrays, redacts secret fields whatever their value, never mutates the input', () => {
    const args = {
      args: ['INV-1', 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl'],
      kwargs: { password: 'hunter2', api_key: 'plain', amount: 50, nested: [{ card: '4111111111111111' }] },
    };
    const copy = structuredClone(args);
    expect(redactor.value(args)).toEqual({
      args: ['INV-1', `Bearer ${redactedMark('bearer_token')}`],
      kwargs: {
        password: redactedMark('secret_field'),
        api_key: redactedMark('secret_field'),
        amount: 50,
        nested: [{ card: redactedMark('card_number') }],
      },
    });
    expect(args).toEqual(copy);
    // Idempotent: what is already a mark stays as it is (a second pass changes nothing).
    const once = redactor.value(args);
    expect(redactor.value(once)).toEqual(once);
    expect(redactor.value({ password: '[REDACTED]' })).toEqual({ password: '[REDACTED]' });
    expect(redactor.json(undefined)).toBeNull();
    expect(JSON.parse(redactor.json(args)!)).toEqual(redactor.value(args));
  });

  it('e-mails only when asked; custom patterns; configurable groups', () => {
    expect(redactor.text('mail bob@example.com')).toBe('mail bob@example.com');
    const strict = createRedactor({ groups: ['emails'], custom: ['ACME-\\d{6}'] });
    expect(strict.text('mail bob@example.com about ACME-123456')).toBe(
      `mail ${redactedMark('email')} about ${redactedMark('custom')}`,
    );
    // Only e-mails and the custom pattern were asked for: a card number stays.
    expect(strict.text('4111111111111111')).toBe('4111111111111111');
    expect(invalidCustomPattern(['ok', '(unclosed'])).toBe('(unclosed');
    expect(noRedaction.json({ a: 'Bearer abcdefghijk' })).toBe('{"a":"Bearer abcdefghijk"}');
  });

  it('bounds depth instead of storing what it did not inspect', () => {
    let deep: unknown = 'Bearer abcdefghijklmnop';
    for (let i = 0; i < 100; i++) deep = [deep];
    expect(JSON.stringify(redactor.value(deep))).not.toContain('abcdefghijklmnop');
  });
});
