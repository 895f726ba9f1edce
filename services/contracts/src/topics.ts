import type { DirectiveRecord } from './records.ts';

/** A topic as the bus creates it. */
export interface TopicSpec {
  name: string;
  partitions?: number;
  compacted?: boolean;
  /** Records older than this are deleted, compacted or not (Kafka `retention.ms`); default: kept. */
  retentionMs?: number;
}

/** Every topic Thoth uses, named under one prefix (THOTH_TOPIC_PREFIX). */
export interface Topics {
  /** Behavioral events and decision events, keyed `<tenant>/<agent>`. */
  events: string;
  /** Compacted: baseline directives, keyed `<tenant>/<agent>[/session:<id>][/tool:<name>]`. */
  directives: string;
  /** Compacted: holds and their resolutions, keyed by hold token. */
  approvals: string;
  /** Compacted: tenants, API keys and policies (control state every API replica materializes). */
  control: string;
  /** Compacted: each session's accumulated risk, keyed by session, which API replicas share (SharedSessionStore). */
  sessions: string;
}

export function topicNames(prefix: string): Topics {
  return {
    events: `${prefix}.events`,
    directives: `${prefix}.directives`,
    approvals: `${prefix}.approvals`,
    control: `${prefix}.control`,
    sessions: `${prefix}.sessions`,
  };
}

export function dlqTopic(topic: string): string {
  return `${topic}.dlq`;
}

/**
 * How long the sessions topic keeps a replica's contribution to a session: the longest session-risk half-life a
 * policy may set (7 days), after which a session idle that long holds at most half its risk — forgotten by a
 * replica that starts later (a running replica keeps it in memory while the session is among its recent ones).
 */
export const SESSION_RETENTION_MS = 7 * 24 * 3_600_000;

/** The topics with their partitioning and cleanup policy, DLQ twins included. */
export function topicSpecs(topics: Topics, partitions: number): TopicSpec[] {
  const specs: TopicSpec[] = [
    { name: topics.events, partitions },
    { name: topics.directives, partitions, compacted: true },
    { name: topics.approvals, partitions, compacted: true },
    { name: topics.control, partitions: 1, compacted: true },
    { name: topics.sessions, partitions, compacted: true, retentionMs: SESSION_RETENTION_MS },
  ];
  return [...specs, ...specs.map((s) => ({ name: dlqTopic(s.name), partitions: 1 }))];
}

/** Partition key that keeps one agent's events in order. */
export function agentKey(tenantId: string, agentId: string): string {
  return `${tenantId}/${agentId}`;
}

/** The compacted-topic key of a directive: one per scope. */
export function directiveKey(
  r: Pick<DirectiveRecord, 'tenant_id' | 'agent_id' | 'session_id' | 'tool_name'>,
): string {
  return [
    `${r.tenant_id}/${r.agent_id}`,
    r.session_id ? `session:${r.session_id}` : '',
    r.tool_name ? `tool:${r.tool_name}` : '',
  ]
    .filter(Boolean)
    .join('/');
}

/** The compacted-topic key of a session's risk. JSON: ids may contain any character. */
export function sessionKey(tenantId: string, agentId: string, sessionId: string): string {
  return JSON.stringify([tenantId, agentId, sessionId]);
}
