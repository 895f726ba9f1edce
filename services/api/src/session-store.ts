import type { SessionRisk } from './decision/index.ts';

/**
 * Per-session risk the enforce API accumulates in memory, bounded: past `max` sessions the least recently
 * updated one is forgotten (Map keeps insertion order; an update re-inserts).
 */
export class SessionStore {
  private readonly sessions = new Map<string, SessionRisk>();

  constructor(private readonly max = 200_000) {}

  static key(tenantId: string, agentId: string, sessionId: string): string {
    return `${tenantId}\u0000${agentId}\u0000${sessionId}`;
  }

  get(key: string): SessionRisk | undefined {
    return this.sessions.get(key);
  }

  set(key: string, session: SessionRisk): void {
    this.sessions.delete(key);
    this.sessions.set(key, session);
    if (this.sessions.size > this.max) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
  }
}
