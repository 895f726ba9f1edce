/** DateTime64(3) text that ClickHouse parses on both engines: `2026-11-24 10:00:00.123`. */
export function clickhouseTime(epochMs: number): string {
  const iso = new Date(epochMs).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
}
