/**
 * Reading a `/metrics` answer (Prometheus text 0.0.4) in tests: the families it declares and the value of a
 * sample by name and labels.
 */
export interface Scrape {
  text: string;
  /** Family names from the `# TYPE` lines, with the sample names a histogram or summary adds. */
  names: Set<string>;
}

export async function scrape(metricsUrl: string): Promise<Scrape> {
  const response = await fetch(`${metricsUrl}/metrics`);
  if (response.status !== 200) throw new Error(`${metricsUrl}/metrics answered ${response.status}`);
  const text = await response.text();
  const names = new Set<string>();
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = match as unknown as [string, string, string];
    names.add(name);
    if (type === 'histogram')
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return { text, names };
}

/**
 * The sum of the samples of `name` whose labels include `labels` (every sample of the name when none are given);
 * undefined when there is no such sample.
 */
export function sampleValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = Object.fromEntries(
      [...(match[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [
        m[1],
        m[2],
      ]),
    );
    if (!Object.entries(labels).every(([key, value]) => present[key] === value)) continue;
    sum = (sum ?? 0) + Number(match[4]);
  }
  return sum;
}
