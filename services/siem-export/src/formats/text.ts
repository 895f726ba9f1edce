/**
 * Text rules every line format shares (CEF, LEEF, the syslog header and structured data). Pure.
 *
 * A receiver that reads lines (a syslog relay, a file tailer) must never see a raw line break inside an event,
 * and stock rsyslog rewrites every control character it receives (`#011` for a tab). So no control character
 * reaches a line: C0 controls, DEL, the C1 controls (NEL among them) and the Unicode line and paragraph separators.
 */

/** Appended to a value that was cut to fit a limit, so a reader sees that it was cut. */
export const TRUNCATION_MARKER = '...[truncated]';

/** Line breaks, including the ones Unicode and ISO 6429 add (NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR). */
const LINE_BREAK = /\r\n|[\n\r\u0085\u2028\u2029]/g;
/** Every other control character: C0 (tab aside), DEL, C1. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is checked
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u0084\u0086-\u009f]/g;

/**
 * `value` with no control character but the line breaks a format escapes (`keepLineBreaks`, CEF extension
 * values: CR and LF stay, CRLF and the Unicode line breaks become LF); else line breaks become a space; a tab becomes a space, and any other control character the
 * replacement character U+FFFD, which shows where something unprintable was.
 */
export function sanitizeText(value: string, keepLineBreaks = false): string {
  const breaks = keepLineBreaks
    ? value.replace(/\r\n|[\u0085\u2028\u2029]/g, '\n')
    : value.replace(LINE_BREAK, ' ');
  return breaks.replace(/\t/g, ' ').replace(CONTROL, '\uFFFD');
}

/**
 * At most `max` UTF-16 code units (the unit of Java's String.length, which ArcSight and QRadar count in),
 * ending with TRUNCATION_MARKER when cut; never splits a surrogate pair. A value cut before is cut again from
 * its text, not from its marker.
 */
export function truncateText(value: string, max: number): string {
  if (value.length <= max) return value;
  const text = value.endsWith(TRUNCATION_MARKER) ? value.slice(0, -TRUNCATION_MARKER.length) : value;
  if (max <= TRUNCATION_MARKER.length) return TRUNCATION_MARKER.slice(0, Math.max(0, max));
  let end = max - TRUNCATION_MARKER.length;
  // Do not leave half of a surrogate pair at the end.
  if (end > 0 && /[\uD800-\uDBFF]/.test(text.charAt(end - 1))) end--;
  return `${text.slice(0, end)}${TRUNCATION_MARKER}`;
}

/**
 * Cuts the longest of `values` (those not in `keep`), marking each cut, until `render` fits in `maxBytes` UTF-8
 * octets. Every round makes one value shorter (never below the marker), so it ends. Undefined when nothing is
 * left to cut and it still does not fit.
 */
export function fitValues<K extends string>(
  values: Array<[K, string]>,
  render: (values: Array<[K, string]>) => string,
  maxBytes: number,
  keep: ReadonlySet<string> = new Set(),
): string | undefined {
  const current = values.map(([k, v]): [K, string] => [k, v]);
  for (;;) {
    const line = render(current);
    const over = Buffer.byteLength(line, 'utf8') - maxBytes;
    if (over <= 0) return line;
    let longest = -1;
    for (let i = 0; i < current.length; i++) {
      const [key, value] = current[i]!;
      if (keep.has(key) || value.length <= TRUNCATION_MARKER.length) continue;
      if (longest < 0 || value.length > current[longest]![1].length) longest = i;
    }
    if (longest < 0) return undefined;
    const [key, value] = current[longest]!;
    const text = value.endsWith(TRUNCATION_MARKER) ? value.slice(0, -TRUNCATION_MARKER.length) : value;
    // Octets to characters by the value's own average width (a cut value never gets shorter than the marker).
    const perChar = Math.max(1, Buffer.byteLength(text, 'utf8') / Math.max(1, text.length));
    const target = Math.max(TRUNCATION_MARKER.length, text.length - Math.max(1, Math.ceil(over / perChar)));
    current[longest] = [key, truncateText(value, target)];
  }
}
