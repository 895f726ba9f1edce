import { describe, expect, it } from 'vitest';
import { REDACTED, redactedPreview } from './args-preview.ts';

describe('redactedPreview', () => {
  it('redacts values under secret-looking keys and secret-looking strings, keeps the rest', () => {
    expect(
      redactedPreview({
        args: ['INV-001', 'Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig'],
        kwargs: {
          amount: 50_000,
          password: 'hunter2',
          card_number: '4111 1111 1111 1111',
          note: 'pay 4111111111111111',
          to: 'acme',
        },
      }),
    ).toEqual({
      args: ['INV-001', REDACTED],
      kwargs: { amount: 50_000, password: REDACTED, card_number: REDACTED, note: REDACTED, to: 'acme' },
    });
    expect(redactedPreview({ key: 'thoth_live_abcdefghijklmnopqrstuvwxyz' })).toEqual({ key: REDACTED });
  });

  it('bounds long strings, long arrays and deep nesting', () => {
    const preview = redactedPreview({
      text: 'x'.repeat(1_000),
      list: Array.from({ length: 60 }, (_, i) => i),
    }) as {
      text: string;
      list: unknown[];
    };
    expect(preview.text).toMatch(/… \(1000 chars\)$/);
    expect(preview.list).toHaveLength(51);
    let deep: unknown = 'bottom';
    for (let i = 0; i < 20; i++) deep = { d: deep };
    expect(JSON.stringify(redactedPreview(deep))).toContain('"…"');
  });

  it('redacts whole arrays and objects under secret keys, any key style, and card numbers sent as numbers', () => {
    expect(
      redactedPreview({
        password: ['a', 'b'],
        api_key: { v: 'plain' },
        dbPassword: 'p',
        'Set-Cookie': 'sid=1',
        aws_secret_access_key: 'k',
        card: 4111111111111111,
        amount: 1500,
        items: [{ qty: 2 }],
      }),
    ).toEqual({
      password: REDACTED,
      api_key: REDACTED,
      dbPassword: REDACTED,
      'Set-Cookie': REDACTED,
      aws_secret_access_key: REDACTED,
      card: REDACTED,
      amount: 1500,
      items: [{ qty: 2 }],
    });
  });
});
