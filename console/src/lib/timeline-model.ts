/**
 * A session's forensics timeline grouped into calls: PRE → decision → POST per tool call, in order, with the
 * time from PRE (or the decision) to POST, and the session's risk over time. Pure: tested without a browser.
 */
export interface TimelineEvent {
  event_id: string;
  kind: string;
  event_type: string;
  agent_id: string;
  tool_name: string;
  decision: string | null;
  reason_code: string | null;
  risk_score: number;
  content: string;
  occurred_at: string;
  chain_index: number;
  hash: string;
  record: Record<string, unknown> | null;
}

export interface TimelineCall {
  key: string;
  agentId: string;
  toolName: string;
  pre: TimelineEvent | undefined;
  decision: TimelineEvent | undefined;
  post: TimelineEvent | undefined;
  /** Other events of the call (a BLOCK event, a finding) in order. */
  others: TimelineEvent[];
  startedAt: number;
  /** PRE (or decision) to POST, when both are there. */
  durationMs: number | undefined;
  matchedRules: string[];
}

const ms = (e: TimelineEvent) => Date.parse(e.occurred_at);

/**
 * Groups events by call: a call opens with a decision or a PRE of a tool on an agent, and takes the next
 * decision / PRE / POST of that same agent and tool until its POST (SDKs send PRE, ask for the decision,
 * then POST). Findings and other events attach to the open call of their agent, else stand alone.
 */
export function groupCalls(events: readonly TimelineEvent[]): TimelineCall[] {
  const calls: TimelineCall[] = [];
  const open = new Map<string, TimelineCall>();
  const openCall = (e: TimelineEvent) => {
    const call: TimelineCall = {
      key: e.event_id,
      agentId: e.agent_id,
      toolName: e.tool_name,
      pre: undefined,
      decision: undefined,
      post: undefined,
      others: [],
      startedAt: ms(e),
      durationMs: undefined,
      matchedRules: [],
    };
    calls.push(call);
    open.set(`${e.agent_id}\u0000${e.tool_name}`, call);
    return call;
  };
  for (const e of events) {
    const slot = `${e.agent_id}\u0000${e.tool_name}`;
    let call = open.get(slot);
    if (e.kind === 'decision') {
      if (!call || call.decision || call.post) call = openCall(e);
      call.decision = e;
      const rules = e.record?.matched_rule_ids;
      if (Array.isArray(rules)) call.matchedRules = rules.filter((r): r is string => typeof r === 'string');
    } else if (e.event_type === 'TOOL_CALL_PRE') {
      if (!call || call.pre || call.post) call = openCall(e);
      call.pre = e;
    } else if (e.event_type === 'TOOL_CALL_POST') {
      if (!call || call.post) call = openCall(e);
      call.post = e;
      open.delete(slot);
    } else {
      (call ?? openCall(e)).others.push(e);
    }
  }
  for (const call of calls) {
    const first = call.pre ?? call.decision;
    if (first && call.post) call.durationMs = Math.max(0, ms(call.post) - ms(first));
  }
  return calls;
}

/** The session's risk over time: each decision's risk score at its time. */
export function riskSeries(events: readonly TimelineEvent[]): { at: number; risk: number }[] {
  return events.filter((e) => e.kind === 'decision').map((e) => ({ at: ms(e), risk: Number(e.risk_score) }));
}
