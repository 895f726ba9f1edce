import { describe, expect, it } from 'vitest';
import {
  createRedactor,
  customPatternsProblem,
  DEFAULT_REDACTION_GROUPS,
  isSecretFieldName,
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

  it('copies only what it redacts: a clean value comes back as it is, clean parts are shared', () => {
    const clean = {
      query: 'quarterly report',
      limit: 10,
      tags: ['a', 'b'],
      nested: { ok: [1, { x: null }] },
    };
    expect(redactor.value(clean)).toBe(clean);
    const mixed = {
      first: 'plain',
      clean,
      list: ['x', 'password=hunter2', 'y'],
      count: 1,
      later: { fine: true },
    };
    const redacted = redactor.value(mixed);
    expect(redacted).not.toBe(mixed);
    expect(redacted.clean).toBe(clean);
    expect(redacted.later).toBe(mixed.later);
    expect(redacted.list).toEqual(['x', `password=${redactedMark('secret_field')}`, 'y']);
    expect(Object.keys(redacted)).toEqual(Object.keys(mixed));
    // A member named __proto__ before the first redacted one is copied as a member.
    const hostile = JSON.parse('{"__proto__":{"a":1},"token":"abc"}');
    const copied = redactor.value(hostile);
    expect(Object.keys(copied)).toEqual(['__proto__', 'token']);
    expect(JSON.stringify(copied)).toBe(`{"__proto__":{"a":1},"token":"${redactedMark('secret_field')}"}`);
  });

  it('e-mails only when asked; custom patterns; configurable groups', () => {
    expect(redactor.text('mail bob@example.com')).toBe('mail bob@example.com');
    const strict = createRedactor({ groups: ['emails'], custom: ['ACME-\\d{6}'] });
    expect(strict.text('mail bob@example.com about ACME-123456')).toBe(
      `mail ${redactedMark('email')} about ${redactedMark('custom')}`,
    );
    // Only e-mails and the custom pattern were asked for: a card number stays.
    expect(strict.text('4111111111111111')).toBe('4111111111111111');
    expect(customPatternsProblem(['ok', '(unclosed'])).toMatch(/\(unclosed/);
    expect(noRedaction.json({ a: 'Bearer abcdefghijk' })).toBe('{"a":"Bearer abcdefghijk"}');
  });

  it('bounds depth instead of storing what it did not inspect', () => {
    let deep: unknown = 'Bearer abcdefghijklmnop';
    for (let i = 0; i < 100; i++) deep = [deep];
    expect(JSON.stringify(redactor.value(deep))).not.toContain('abcdefghijklmnop');
  });
});

describe('secrets the redactor used to miss', () => {
  it('card numbers sent as JSON numbers (Luhn-valid, 13-19 digits), not other numbers', () => {
    const args = JSON.parse(
      '{"card": 4111111111111111, "args": [5555555555554444, 378282246310005], "amount": 1500, ' +
        '"at": 1764000000000, "order": 4111111111111112, "big": 6011000990139424123}',
    );
    expect(redactor.value(args)).toEqual({
      card: redactedMark('card_number'),
      args: [redactedMark('card_number'), redactedMark('card_number')],
      amount: 1500,
      at: 1764000000000,
      order: 4111111111111112,
      // Beyond 2^53 the parsed digits are not the sent ones: Luhn can't tell, and most of a card would show.
      big: redactedMark('card_number'),
    });
    expect(redactor.json([4111111111111111])).toBe(`["${redactedMark('card_number')}"]`);
    expect(createRedactor({ groups: ['api_keys'] }).value(4111111111111111)).toBe(4111111111111111);
  });

  it('secrets glued to the word character before them', () => {
    const glued = [
      'xsk_live_abcdefgh12',
      'keyAKIAIOSFODNN7EXAMPLE',
      'idghp_abcdefghijklmnopqrstuvwxyz0123456789',
      'q=%20sk-proj-abcdefghijklmnopqrstuv',
      String.raw`line\nsk-ant-abcdefghijklmnopqrstuv`,
      'abcxoxb-1234567890-abcdef',
      'xAIzaSyA1234567890abcdefghijklmnopqrstuv',
      'tokeneyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl',
      'card4111111111111111',
      'access_token=abc123',
      'DB_PASSWORD=hunter2',
    ];
    for (const text of glued) expect(redactor.text(text), text).toMatch(/\[REDACTED:[a-z_]+\]/);
    // A prefix that also ends ordinary words still needs a word start.
    expect(redactor.text('risk-assessment-for-the-quarterly-report')).toBe(
      'risk-assessment-for-the-quarterly-report',
    );
  });

  it('secret names with a value in text: name=value, "name": "value", headers', () => {
    expect(redactor.text('PGPASSWORD=hunter2 psql -h db')).toBe(
      `PGPASSWORD=${redactedMark('secret_field')} psql -h db`,
    );
    expect(redactor.text('https://x.test/cb?access_token=abc123&state=ok')).toBe(
      `https://x.test/cb?access_token=${redactedMark('secret_field')}&state=ok`,
    );
    expect(redactor.text('{"client_secret": "two words"}')).toBe(
      `{"client_secret": "${redactedMark('secret_field')}"}`,
    );
    expect(redactor.text('X-Api-Key: abcdef')).toBe(`X-Api-Key: ${redactedMark('secret_field')}`);
    expect(redactor.text('Authorization: Bearer abcdefghijk')).toBe(
      `Authorization: Bearer ${redactedMark('bearer_token')}`,
    );
    for (const text of ['max_tokens=500', 'token_count: 12', 'authorization_decision: ALLOW', 'a=1&b=2'])
      expect(redactor.text(text)).toBe(text);
  });

  it('the whole value under a secret-named key, arrays and objects included', () => {
    expect(
      redactor.value({
        password: ['a', 'b'],
        api_key: { v: 'plain' },
        credentials: [{ user: 'u', pass: 'p' }],
        cookie: 7,
        token: '',
        secret: null,
      }),
    ).toEqual({
      password: redactedMark('secret_field'),
      api_key: redactedMark('secret_field'),
      credentials: redactedMark('secret_field'),
      cookie: redactedMark('secret_field'),
      token: '',
      secret: null,
    });
  });

  it('secret key names in any case and separator style, and the names that only look like one', () => {
    const secret = [
      'db_password',
      'dbPassword',
      'DB-PASSWORD',
      'aws_secret_access_key',
      'AWS_SECRET_ACCESS_KEY',
      'client_secret',
      'clientSecret',
      'refresh_token',
      'accessToken',
      'id_token',
      'x_token_v2',
      'passwd',
      'user_passphrase',
      'api_key',
      'apiKey',
      'APIKey',
      'X-Api-Key',
      'apikey',
      'stripe_api_key',
      'private_key',
      'privateKey',
      'gcp_credentials',
      'Authorization',
      'proxy-authorization',
      'Cookie',
      'set-cookie',
      'basic_auth',
      'cvv',
      // Non-ASCII letters that lower-case to ASCII (the Kelvin sign to `k`) read as what they lower-case to.
      'auth_to\u212Aen',
    ];
    const plain = [
      'max_tokens',
      'maxTokens',
      'promptTokenCount',
      'token_type',
      'tokenizer',
      'authorization_decision',
      'author',
      'passenger',
      'auth_header',
      'session_id',
      'amount',
    ];
    const value = Object.fromEntries([...secret, ...plain].map((key) => [key, 'v']));
    const out = redactor.value(value) as Record<string, unknown>;
    for (const key of secret) expect(out[key], key).toBe(redactedMark('secret_field'));
    for (const key of plain) expect(out[key], key).toBe('v');
    for (const key of secret) expect(isSecretFieldName(key), key).toBe(true);
    for (const key of plain) expect(isSecretFieldName(key), key).toBe(false);
  });

  it('refuses custom patterns that could backtrack super-linearly, naming them', () => {
    for (const pattern of [
      '(a+)+',
      '(a|ab)*',
      'x.*y',
      String.raw`(\w)\1`,
      '(?=a)b',
      'a{1,300}b',
      'x?x?x?x?x?x?x?x?y',
    ])
      expect(customPatternsProblem([pattern]), pattern).toContain(
        `custom redaction pattern ${JSON.stringify(pattern)}`,
      );
    expect(customPatternsProblem(['ACME-\\d{6}', '(unclosed'])).toBe(
      'custom redaction pattern "(unclosed" is refused: not a valid regular expression',
    );
    expect(
      customPatternsProblem(['ACME-\\d{6}', 'tok_[a-z0-9]+', String.raw`\b\d{3}-\d{2}-\d{4}\b`]),
    ).toBeUndefined();
    expect(customPatternsProblem(['ok', '(a+)+'])).toMatch(/"\(a\+\)\+" is refused/);
    expect(() => createRedactor({ groups: [], custom: ['(a+)+'] })).toThrow(/"\(a\+\)\+" is refused/);
  });

  it('keeps a member named __proto__ a member, redacted like any other', () => {
    const redactor = createRedactor({ groups: DEFAULT_REDACTION_GROUPS });
    const args = JSON.parse('{"__proto__":{"password":"hunter2","q":"x"},"constructor":"c"}');
    expect(JSON.parse(redactor.json(args)!)).toEqual({
      ['__proto__']: { password: '[REDACTED:secret_field]', q: 'x' },
      constructor: 'c',
    });
  });
});
