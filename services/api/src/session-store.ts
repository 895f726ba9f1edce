import { sessionKey } from '@thoth/contracts';
import type { SessionRisk } from './decision/index.ts';

/** Where the enforcer reads a session's risk before a decision and stores it after (synchronously, in between). */
export interface SessionRiskStore {
  get(key: string): SessionRisk | undefined;
  set(key: string, session: SessionRisk): void;
  /** After the turn's answers are written: share what was decided (SharedSessionStore); nothing here. */
  publishPending(): void;
}

/**
 * Per-session risk the enforce API accumulates in memory, bounded: past `max` sessions the least recently
 * updated one is forgotten (Map keeps insertion order; an update re-inserts).
 */
export class SessionStore implements SessionRiskStore {
  private readonly sessions = new Map<string, SessionRisk>();

  constructor(private readonly max = 200_000) {}

  /** The same key as the sessions topic's (SharedSessionStore): one format in memory and on the bus. */
  static key(tenantId: string, agentId: string, sessionId: string): string {
    return sessionKey(tenantId, agentId, sessionId);
  }

  /** The tenant, agent and session ids of a key made by `key`. */
  static ids(key: string): [string, string, string] {
    return JSON.parse(key) as [string, string, string];
  }

  get(key: string): SessionRisk | undefined {
    return this.sessions.get(key);
  }

  publishPending(): void {}

  set(key: string, session: SessionRisk): void {
    this.sessions.delete(key);
    this.sessions.set(key, session);
    if (this.sessions.size > this.max) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
  }
}
