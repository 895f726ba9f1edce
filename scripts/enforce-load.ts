/** The enforce load both enforce benchmarks send (bench-enforce.ts, bench-embedded.ts): one body, one policy. */

export const TENANT = 'acme-corp';

/** Sessions per wrk thread; each request goes to the next one (risk state stays tiny per session). */
export const SESSIONS_PER_THREAD = 64;

/** The realistic body of the hot path: an in-scope read tool, progressive mode → ALLOW. */
export const BODY_TEMPLATE = {
  agent_id: 'invoice-processor-v2',
  tenant_id: TENANT,
  tool_name: 'search_docs',
  session_id: '__SESSION__',
  user_id: 'alice@example.com',
  approved_scope: ['search_docs', 'read_file', 'submit_payment'],
  session_tool_calls: ['search_docs', 'read_file', 'search_docs', 'read_file', 'search_docs'],
  enforcement_mode: 'progressive',
  tool_args: { args: ['quarterly report'], kwargs: { limit: 10 } },
  environment: 'prod',
};

export const POLICY = {
  rules: [
    {
      id: 'payment-limit',
      condition: 'tool == "submit_payment" && args.amount > 10000',
      effect: 'BLOCK',
      reason: 'payments above 10,000 need a human',
      reason_code: 'payment_limit',
      risk_points: 40,
    },
    {
      id: 'pii-access',
      condition: 'data_classification == "pii"',
      effect: 'FLAG',
      reason: 'personal data accessed',
      risk_points: 10,
    },
    {
      id: 'runaway-session',
      condition: 'session.count > 1000000',
      effect: 'DEFER',
      reason: 'unusually long session',
      defer_timeout_seconds: 60,
    },
  ],
};
