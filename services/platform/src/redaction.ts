/**
 * Secret redaction for everything Thoth stores or exports: tool arguments, event content and metadata are
 * passed through a `Redactor` where they enter Thoth (ingest, the enforce path's decision event), before they
 * reach the bus — so the audit trail, the SIEM exports and every other consumer never see the secrets.
 * Pure: patterns are compiled once; `value`/`text` never mutate their input.
 *
 * Every pattern here sees request data on the enforce path, so each is written to scan an input of length n
 * in O(n) with JavaScript's backtracking engine (redaction-linear.test.ts attacks each one). The rules the
 * built-in patterns follow, and the static check enforces on custom ones:
 * - a match starts at a required literal, or at the start of a run of its characters (a lookbehind), never
 *   anywhere inside a run it would then scan to the end again;
 * - an unbounded repeat either ends the pattern (the greedy run can only end in a match, which consumes it) or
 *   is made possessive with `(?=(x+))\1` (a lookahead is atomic: the run is never given back char by char);
 * - other repeats are bounded, and no repeated group contains a repeat or an alternation.
 */

/** Built-in pattern groups, by the name THOTH_REDACT_PATTERNS uses. */
export const REDACTION_GROUPS = [
  'api_keys',
  'bearer_tokens',
  'card_numbers',
  'private_keys',
  'secret_fields',
  'emails',
] as const;
export type RedactionGroup = (typeof REDACTION_GROUPS)[number];
/** On unless configured otherwise; e-mail addresses are opt-in (often the data an agent legitimately works on). */
export const DEFAULT_REDACTION_GROUPS: readonly RedactionGroup[] = [
  'api_keys',
  'bearer_tokens',
  'card_numbers',
  'private_keys',
  'secret_fields',
];

export const redactedMark = (what: string): string => `[REDACTED:${what}]`;
/** Already a redaction mark (ours, or the approver preview's `[REDACTED]`): redacting is idempotent. */
const isMark = (v: unknown): boolean => typeof v === 'string' && /^\[REDACTED(?::[a-z_]+)?\]$/.test(v);

interface TextPattern {
  name: string;
  regex: RegExp;
  /** No match of `regex` is shorter: shorter strings skip it (most values in tool calls are short). */
  minLength: number;
  /**
   * Every match contains one of these: text without any skips the regex (a substring search is much cheaper
   * than a regex that starts with a lookbehind, which the engine must try at every position).
   */
  contains?: readonly string[];
  /** What replaces the match, given its capture groups (default: the mark); returning `match` keeps it. */
  replace?: (match: string, ...groups: string[]) => string;
}

/**
 * Secret names: a key (or the name in `name=value` text) is split into lower-case words first, so `dbPassword`,
 * `DB_PASSWORD`, `db-password` and `X-Api-Key` read alike. `*password*`, `*secret*`, `*token*`, `*api_key*`,
 * `*private_key*`, `*credential*`, `*cookie*` anywhere in the name; `auth`/`authorization`/`pass`/`cvv`/`cvc`
 * only as its last word (`authorization_decision` and `passenger` are not secrets). Counts and kinds of tokens
 * are not tokens: `max_tokens`, `token_count`, `token_type`, `tokenizer` stay readable.
 */
const SECRET_NAME =
  /password|passwd|passphrase|secret|api_?key|private_?key|credential|cookie|token(?!s|iz|_(?:count|limit|usage|budget|type)(?:_|$))|(?:^|_)(?:pass|auth|authorization|cvv|cvc)$/;

/** Words a secret name contains (a cheap pre-check: most names have none). */
const SECRET_STEMS = 'pass|secret|token|key|credential|auth|cookie|cv[vc]';
const SECRET_STEM = new RegExp(SECRET_STEMS, 'i');

/**
 * Answers by name: the same few keys come in every tool call, so most lookups are answered here. Bounded, as keys
 * are request data: names up to 64 characters, cleared when full.
 */
const secretNames = new Map<string, boolean>();
const SECRET_NAMES_KEPT = 4096;
const SECRET_NAME_KEPT_LENGTH = 64;

/** Whether values under this object key (or after this name and `=`/`:` in text) are secrets whatever they look like. */
export function isSecretFieldName(name: string): boolean {
  let secret = secretNames.get(name);
  if (secret !== undefined) return secret;
  secret = SECRET_STEM.test(name) && SECRET_NAME.test(nameWords(name));
  if (name.length > SECRET_NAME_KEPT_LENGTH) return secret;
  if (secretNames.size >= SECRET_NAMES_KEPT) secretNames.clear();
  secretNames.set(name, secret);
  return secret;
}

/**
 * Anything but lower-case ASCII letters, digits and `_`: a name nameWords may change (`toLowerCase` also maps
 * some non-ASCII letters to ASCII ones, e.g. the Kelvin sign to `k`).
 */
const NOT_SNAKE_CASE = /[^a-z0-9_]/;

function nameWords(name: string): string {
  if (!NOT_SNAKE_CASE.test(name)) return name;
  return (
    name
      // camelCase and acronyms (`APIKey`) to snake_case; one character of context each, so a long key stays linear.
      .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
      .replace(/([A-Z])([A-Z][a-z])/g, '$1_$2')
      .toLowerCase()
      .replace(/[-.\s]/g, '_')
  );
}

/**
 * Before a prefix that also ends ordinary words (`task-`, `risk-` end in `sk-`): not a letter, unless that letter
 * belongs to an escape such as `\n` (text that went through JSON or a log line twice).
 */
const NOT_MID_WORD = String.raw`(?<!(?<!\\)[A-Za-z])`;

/** Characters of a JWT segment (base64url). */
const B64 = 'A-Za-z0-9_-';
/** Characters of a name in `name=value` text. */
const NAME = 'A-Za-z0-9_.-';

const TEXT_PATTERNS: Record<RedactionGroup, TextPattern[]> = {
  // Key prefixes distinctive enough to be found glued to whatever precedes them (`xsk_live_…`, `%20AKIA…`); the
  // body after the prefix has no terminator, so the greedy run ends in a match or fails within its minimum.
  api_keys: [
    {
      name: 'api_key',
      regex: /thoth_(?:live|test|admin)_[A-Za-z0-9_-]{16,}/g,
      minLength: 27,
      contains: ['thoth_'],
    },
    {
      name: 'api_key',
      regex: new RegExp(`${NOT_MID_WORD}sk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}`, 'g'),
      minLength: 23,
      contains: ['sk-'],
    },
    {
      name: 'api_key',
      regex: /(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}/g,
      minLength: 16,
      contains: ['_live_', '_test_'],
    },
    // Exactly 20 characters: not the middle of a longer upper-case run (base32 data).
    {
      name: 'api_key',
      regex: /(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Z])/g,
      minLength: 20,
      contains: ['AKIA', 'ASIA'],
    },
    { name: 'api_key', regex: /gh[pousr]_[A-Za-z0-9]{30,}/g, minLength: 34, contains: ['gh'] },
    { name: 'api_key', regex: /xox[abprs]-[A-Za-z0-9-]{10,}/g, minLength: 15, contains: ['xox'] },
    { name: 'api_key', regex: /AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/g, minLength: 39, contains: ['AIza'] },
  ],
  bearer_tokens: [
    // `\b` kept: `Token` also ends identifiers (`access_token`, `max_token`) that ordinary words follow.
    {
      name: 'bearer_token',
      regex: /\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{8,}/gi,
      minLength: 14,
      replace: (_match, scheme) => `${scheme} ${redactedMark('bearer_token')}`,
    },
    // Three dot-separated base64url segments, the first containing `eyJ` (a JSON header, glued or not). Starts
    // only where a segment starts, and takes each segment whole (possessive), so each segment is scanned by at
    // most the three matches it could belong to.
    {
      name: 'jwt',
      regex: new RegExp(
        `(?<![${B64}])(?=([${B64}]*?eyJ[${B64}]{5,}))\\1\\.(?=([${B64}]{5,}))\\2\\.(?=([${B64}]{5,}))\\3`,
        'g',
      ),
      minLength: 20,
      contains: ['eyJ'],
    },
  ],
  card_numbers: [
    // 13-19 digits, optionally grouped by spaces or dashes, starting like a payment card (2-6) and passing
    // Luhn: timestamps and ids rarely do both. Not inside a longer digit run; letters around do not matter
    // (`card4111…`). Bounded: each start reads at most 37 characters.
    {
      name: 'card_number',
      regex: /(?<!\d)[2-6](?:[ -]?\d){12,18}(?!\d)/g,
      minLength: 13,
      replace: (match) => (luhn(match.replace(/\D/g, '')) ? redactedMark('card_number') : match),
    },
  ],
  private_keys: [
    // The body is scanned once: lazily up to END (its label bounded) or to the end of the text.
    {
      name: 'private_key',
      regex:
        /-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]{0,40}PRIVATE KEY-----|$)/g,
      minLength: 27,
      contains: ['-----BEGIN '],
    },
  ],
  // `password=…`, `"api_key": "…"`, `Authorization: Bearer …`, `?access_token=…`: a secret name, `=` or `:`, and
  // the value (quoted, or up to a space or separator). A name starts a run of name characters and is at most 64
  // long; a quoted value ends at its quote or the line, so no character is read by more than a few matches.
  secret_fields: [
    {
      name: 'secret_field',
      regex: new RegExp(
        `(?<![${NAME}])(?=[${NAME}]{0,63}?(?:${SECRET_STEMS}))([${NAME}]{1,64})(["']?[ \\t]{0,3}[:=][ \\t]{0,3})` +
          `("[^"\\r\\n]*"|'[^'\\r\\n]*'|(?:(?:Bearer|Basic|Token|Digest) {1,3})?[^\\s"'&,;]+)`,
        'gi',
      ),
      minLength: 3,
      contains: ['=', ':'],
      replace: (match, name, separator, value) => {
        if (!isSecretFieldName(name) || isMarkedValue(value)) return match;
        const quote = value[0] === '"' || value[0] === "'" ? value[0] : '';
        const scheme = /^(?:Bearer|Basic|Token|Digest) /i.exec(value)?.[0] ?? '';
        return `${name}${separator}${quote}${scheme}${redactedMark('secret_field')}${quote}`;
      },
    },
  ],
  // Starts only where a run of local-part characters starts and takes the run whole, then the domain whole
  // (labels separated by dots), then checks the last label is a top-level domain: every run is read twice at most.
  emails: [
    {
      name: 'email',
      regex:
        /(?<![A-Za-z0-9._%+-])(?=([A-Za-z0-9._%+-]+))\1@(?=([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+))\2(?<=\.[A-Za-z]{2,})/g,
      minLength: 6,
      contains: ['@'],
    },
  ],
};

/**
 * A copy of the first `count` members (`keys` are the object's own, in order). No prototype: a member named
 * `__proto__` (JSON.parse makes it an own member) stays a member instead of becoming the copy's prototype, and
 * dropping out of what is stored.
 */
function copyOf(
  members: Record<string, unknown>,
  keys: readonly string[],
  count: number,
): Record<string, unknown> {
  const copy: Record<string, unknown> = Object.create(null);
  for (let i = 0; i < count; i++) copy[keys[i]!] = members[keys[i]!];
  return copy;
}

function containsAny(text: string, literals: readonly string[]): boolean {
  for (const literal of literals) if (text.includes(literal)) return true;
  return false;
}

/** A value that is already redacted (`[REDACTED:x]`, quoted or after an auth scheme). */
function isMarkedValue(value: string): boolean {
  const bare = value.replace(/^["']|["']$/g, '').replace(/^(?:Bearer|Basic|Token|Digest) +/i, '');
  return isMark(bare);
}

const MAX_DEPTH = 64;

export interface RedactionConfig {
  groups: readonly RedactionGroup[];
  /** Extra regular expressions (source text); matches become [REDACTED:custom]. Refused ones throw. */
  custom?: readonly string[];
}

export interface Redactor {
  /** The text with every match replaced by a [REDACTED:<what>] mark. */
  text(value: string): string;
  /**
   * Secret strings, card numbers sent as numbers, and secret fields' values redacted: the parts that hold one are
   * copied, the rest is shared with the input (the input itself when nothing is redacted). Never mutates it.
   */
  value<T>(value: T): T;
  /** JSON text of `value`, redacted; null stays null. */
  json(value: unknown): string | null;
}

export function createRedactor(config: RedactionConfig): Redactor {
  const patterns: TextPattern[] = [];
  for (const group of config.groups) patterns.push(...TEXT_PATTERNS[group]);
  for (const source of config.custom ?? []) {
    const problem = customPatternsProblem([source]);
    if (problem !== undefined) throw new Error(problem);
    patterns.push({ name: 'custom', regex: new RegExp(source, 'g'), minLength: 0 });
  }
  const fields = config.groups.includes('secret_fields');
  const cards = config.groups.includes('card_numbers');

  const text = (input: string): string => {
    let out = input;
    for (const p of patterns) {
      if (out.length < p.minLength) continue;
      if (p.contains && !containsAny(out, p.contains)) continue;
      p.regex.lastIndex = 0;
      if (!p.regex.test(out)) continue;
      p.regex.lastIndex = 0;
      out = out.replace(p.regex, p.replace ?? (() => redactedMark(p.name)));
    }
    return out;
  };

  const walk = (input: unknown, depth: number): unknown => {
    if (typeof input === 'string') return text(input);
    if (typeof input === 'number') return cards && isCardNumber(input) ? redactedMark('card_number') : input;
    if (input === null || typeof input !== 'object') return input;
    // Deeper than any real payload: drop it rather than store what was not inspected.
    if (depth >= MAX_DEPTH) return redactedMark('too_deep');
    // Copy on write: a part with nothing to redact is returned as it is (most arguments have no secret), so the
    // common case allocates nothing and the caller can tell by identity that nothing changed.
    // Indexed loops: no iterator or entry pairs per member on the enforce path.
    if (Array.isArray(input)) {
      let out: unknown[] | undefined;
      for (let i = 0; i < input.length; i++) {
        const item: unknown = input[i];
        const redacted = walk(item, depth + 1);
        if (out === undefined && redacted !== item) out = input.slice(0, i);
        out?.push(redacted);
      }
      return out ?? input;
    }
    const members = input as Record<string, unknown>;
    const keys = Object.keys(members);
    let out: Record<string, unknown> | undefined;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const v = members[key];
      // The whole value under a secret name, arrays and objects included; null and '' say there is none.
      const redacted =
        fields && isSecretFieldName(key) && v !== null && v !== '' && !isMark(v)
          ? redactedMark('secret_field')
          : walk(v, depth + 1);
      if (out === undefined && redacted !== v) out = copyOf(members, keys, i);
      if (out !== undefined) out[key] = redacted;
    }
    return out ?? input;
  };

  return {
    text,
    value: <T>(value: T) => walk(value, 0) as T,
    json: (value) => (value === undefined || value === null ? null : JSON.stringify(walk(value, 0))),
  };
}

/** Redacts nothing: for code paths that are handed already-redacted data. */
export const noRedaction: Redactor = {
  text: (v) => v,
  value: (v) => v,
  json: (v) => (v === undefined || v === null ? null : JSON.stringify(v)),
};

/**
 * Why the first refused pattern of the list is refused (the message names it), or undefined when all are
 * accepted.
 *
 * Custom patterns run on request data with JavaScript's backtracking engine, so only patterns whose work per
 * start position is bounded are accepted: a conservative static check that refuses some harmless patterns
 * too, with a message that says how to rewrite them. We check rather than run custom patterns on a
 * linear-time engine (RE2) because that needs a native or WebAssembly dependency for an opt-in feature, and
 * the rules fit in one error message:
 * - no backreferences and no lookaround;
 * - a repeated group (`(…)*`, `(…)+`, `(…){2,}` …) contains no repeat and no `|`;
 * - `*`, `+` and `{n,}` only at the very end of the pattern (or of a top-level alternative);
 * - other repeats are bounded by MAX_REPEAT, and together split a match in at most MAX_SPLITS ways.
 */
export function customPatternsProblem(sources: readonly string[]): string | undefined {
  for (const source of sources) {
    let reason: string | undefined;
    try {
      new RegExp(source, 'g');
      reason = backtrackingProblem(source);
    } catch {
      reason = 'not a valid regular expression';
    }
    if (reason !== undefined)
      return `custom redaction pattern ${JSON.stringify(source)} is refused: ${reason}`;
  }
  return undefined;
}

/** Longest bounded repeat a custom pattern may use before its end. */
const MAX_REPEAT = 64;
/** Most ways the bounded repeats of a custom pattern may split one match between them. */
const MAX_SPLITS = 128;

/** One element of a parsed pattern (a character, class, escape, assertion or group) with its repeat. */
interface PatternElement {
  /** Its source text, repeat included (for the message). */
  text: string;
  /** A group's alternatives. */
  alternatives?: PatternElement[][];
  min: number;
  max: number;
}

// The tokens of a pattern, read with sticky regexes at the parser's position.
const GROUP_OPENING = /\((?:\?(:|=|!|<=|<!|<[^>]*>))?/y;
const CHARACTER_CLASS = /\[\^?(?:\\[\s\S]|[^\]\\])*\]/y;
const ESCAPE = /\\[\s\S]/y;
/** `*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}`, lazy or not (a `{` that is not one is a literal). */
const REPEAT = /(?:([*+?])|\{(\d+)(?:(,)(\d*))?\})\??/y;

/**
 * The alternatives of a pattern that compiles, parsed just enough (escapes, classes, groups, repeats) to see its
 * repeats; or what it uses that the check does not accept.
 */
function parsePattern(source: string): { alternatives: PatternElement[][]; unsupported?: string } {
  let i = 0;
  let unsupported: string | undefined;
  const read = (token: RegExp): RegExpExecArray | null => {
    token.lastIndex = i;
    const match = token.exec(source);
    if (match) i = token.lastIndex;
    return match;
  };
  const alternativesUntilClose = (): PatternElement[][] => {
    const alternatives: PatternElement[][] = [[]];
    while (i < source.length && source[i] !== ')') {
      if (source[i] === '|') {
        i++;
        alternatives.push([]);
        continue;
      }
      const start = i;
      let inner: PatternElement[][] | undefined;
      const group = read(GROUP_OPENING);
      if (group) {
        if (group[1] !== undefined && /^(?:[=!]|<[=!])$/.test(group[1]))
          unsupported ??= 'lookaround is not supported in custom patterns';
        inner = alternativesUntilClose();
        i++; // the closing parenthesis
      } else if (!read(CHARACTER_CLASS)) {
        const escaped = read(ESCAPE);
        if (escaped && /^\\[1-9k]/.test(escaped[0]))
          unsupported ??= 'backreferences are not supported in custom patterns';
        if (!escaped) i++; // a plain character
      }
      const repeat = read(REPEAT);
      const [min, max] = repeat ? repeatBounds(repeat) : [1, 1];
      alternatives.at(-1)!.push({ text: source.slice(start, i), alternatives: inner, min, max });
    }
    return alternatives;
  };
  return { alternatives: alternativesUntilClose(), unsupported };
}

function repeatBounds([, operator, low, comma, high]: RegExpExecArray): [number, number] {
  if (operator === '?') return [0, 1];
  if (operator === '*') return [0, Number.POSITIVE_INFINITY];
  if (operator === '+') return [1, Number.POSITIVE_INFINITY];
  const min = Number(low);
  return [min, comma === undefined ? min : high === '' ? Number.POSITIVE_INFINITY : Number(high)];
}

/** Why a pattern that compiles could backtrack without bound per start position (the rules above), or undefined. */
function backtrackingProblem(source: string): string | undefined {
  const { alternatives, unsupported } = parsePattern(source);
  if (unsupported) return unsupported;
  let problem: string | undefined;
  const repeats = (sequence: PatternElement[]): boolean =>
    sequence.some((e) => e.min !== e.max || e.max > 1 || e.alternatives?.some(repeats) === true);
  const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
  /** Ways the repeats of a sequence can split one match between them: what backtracking may try per start. */
  const ways = (sequence: PatternElement[], topLevel: boolean): number =>
    sequence.reduce((product, e, index) => {
      // The pattern's last element: a greedy run there ends in a match, which consumes it, or fails at once.
      const last = topLevel && index === sequence.length - 1;
      if (e.max === Number.POSITIVE_INFINITY && !last)
        problem ??= `the unbounded repeat ${e.text} is not at the end of the pattern; bound it, e.g. {1,${MAX_REPEAT}}`;
      else if (e.min > MAX_REPEAT || (!last && e.max > MAX_REPEAT))
        problem ??= `the repeat ${e.text} counts beyond ${MAX_REPEAT}`;
      if (e.max > 1 && e.alternatives && (e.alternatives.length > 1 || e.alternatives.some(repeats)))
        problem ??= `the repeated group ${e.text} contains a repeat or an alternation (nested repeats backtrack exponentially)`;
      const inner = e.alternatives ? sum(e.alternatives.map((a) => ways(a, false))) : 1;
      return product * inner * (last ? 1 : Math.min(e.max, MAX_REPEAT) - e.min + 1);
    }, 1);
  const total = sum(alternatives.map((a) => ways(a, true)));
  if (problem) return problem;
  if (total > MAX_SPLITS)
    return `its repeats can split a match ${total} ways (at most ${MAX_SPLITS}); use fewer or narrower repeats`;
  return undefined;
}

/** A card number sent as a JSON number: 13-19 digits starting 2-6, passing Luhn when the digits are exact. */
function isCardNumber(n: number): boolean {
  if (!Number.isInteger(n) || n < 1e12 || n >= 1e19) return false;
  const digits = String(n);
  if (digits < '2' || digits >= '7') return false;
  // Beyond 2^53 the parsed number lost its last digits: Luhn can't be checked, and most of a card would show.
  return Number.isSafeInteger(n) ? luhn(digits) : true;
}

function luhn(digits: string): boolean {
  if (digits.length < 13 || digits.length > 19) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}
