/**
 * What `npm start` / `thoth start` prints once it serves: what runs where, so a first user does not have to
 * guess which policy file, sinks, ports and data directory are in use. Pure: the caller gathers the facts.
 */
export interface StartFacts {
  mode: 'embedded' | 'distributed';
  services: readonly string[];
  /** The API's base URL, when this process serves the API. */
  apiUrl?: string;
  /** The web console is served (its route exists). */
  console: boolean;
  /** The port this process's `GET /metrics` listener is bound to (THOTH_METRICS_PORT, or the one chosen for 0). */
  metricsPort?: number;
  /** Where the metrics listener binds (THOTH_METRICS_HOST); default: `host`. */
  metricsHost?: string;
  host: string;
  policy?: {
    source: 'default' | 'file';
    path?: string;
    sha256?: string;
    ruleCount: number;
  };
  /** SIEM sinks by id and type, when siem-export runs here. */
  sinks?: ReadonlyArray<{ id: string; type: string; format?: string }>;
  dataDir: string;
  /** Where the admin token comes from: generated into the data directory, or THOTH_ADMIN_TOKEN. */
  adminToken: { kind: 'file'; path: string } | { kind: 'env' };
}

export function startSummary(facts: StartFacts): string {
  const rows: Array<[string, string]> = [['mode', `${facts.mode} (services: ${facts.services.join(', ')})`]];
  if (facts.apiUrl) {
    rows.push(['API', facts.apiUrl]);
    rows.push(['API docs', `${facts.apiUrl}/docs (OpenAPI: ${facts.apiUrl}/openapi.json)`]);
    if (facts.console) rows.push(['console', `${facts.apiUrl}/console/`]);
  }
  if (facts.metricsPort !== undefined)
    rows.push(['metrics', `http://${facts.metricsHost ?? facts.host}:${facts.metricsPort}/metrics`]);
  if (facts.policy) {
    const rules = `${facts.policy.ruleCount} rule${facts.policy.ruleCount === 1 ? '' : 's'}`;
    rows.push([
      'policy',
      facts.policy.source === 'file'
        ? `${facts.policy.path} (sha256 ${facts.policy.sha256?.slice(0, 12)}…), ${rules}; policies applied through the API take precedence per tenant`
        : `built-in default (${rules}; set THOTH_POLICY_FILE or apply one through the API)`,
    ]);
  }
  if (facts.sinks)
    rows.push([
      'SIEM sinks',
      facts.sinks.length === 0
        ? '(none)'
        : facts.sinks.map((s) => `${s.id} (${s.type}${s.format ? `, ${s.format}` : ''})`).join(', '),
    ]);
  rows.push(['data', facts.dataDir]);
  rows.push([
    'admin token',
    facts.adminToken.kind === 'file'
      ? `in ${facts.adminToken.path} (export THOTH_ADMIN_TOKEN=$(cat ${facts.adminToken.path}) for the thoth CLI)`
      : 'from THOTH_ADMIN_TOKEN',
  ]);
  const width = Math.max(...rows.map(([label]) => label.length));
  return ['Thoth is running', ...rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`)].join(
    '\n',
  );
}
