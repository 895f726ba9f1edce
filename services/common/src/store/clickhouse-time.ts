/** DateTime64(3) text that ClickHouse parses on both engines: `2026-11-24 10:00:00.123`. */
export function clickhouseTime(epochMs: number): string {
  return new Date(epochMs).toISOString().replace('T', ' ').replace('Z', '');
}
