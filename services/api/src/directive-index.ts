import type { DirectiveRecord } from '@thoth/contracts';
import type { AvroCodec, Bus, CompactedView, Logger } from '@thoth/platform';
import type { Directive } from './decision/index.ts';

/**
 * Baseline directives (compacted directives topic) indexed by tenant and agent, so the enforce path finds an
 * agent's directives with one map lookup. `decideToolCall` filters them by session, tool and expiry.
 */
export class DirectiveIndex {
  private readonly byKey = new Map<string, Directive>();
  private readonly byAgent = new Map<string, Map<string, Directive>>();
  private view: CompactedView | undefined;

  constructor(private readonly deps: { bus: Bus; codec: AvroCodec; topic: string; log: Logger }) {}

  async start(): Promise<void> {
    this.view = await this.deps.bus.openView(this.deps.topic, (key, value, headers) => {
      if (value === null) return this.remove(key);
      const decoded = this.deps.codec.decode({ value, headers });
      if (decoded.ok && decoded.schema === 'thoth.v1.Directive') this.put(key, toDirective(decoded.value));
      else
        this.deps.log.error(
          { key, reason: decoded.ok ? decoded.schema : decoded.reason },
          'unreadable directive',
        );
    });
  }

  async stop(): Promise<void> {
    await this.view?.close();
  }

  forAgent(tenantId: string, agentId: string): Directive[] {
    const mine = this.byAgent.get(`${tenantId}/${agentId}`);
    return mine ? [...mine.values()] : [];
  }

  private put(key: string, directive: Directive): void {
    this.remove(key);
    this.byKey.set(key, directive);
    const agentKey = `${directive.tenantId}/${directive.agentId}`;
    const mine = this.byAgent.get(agentKey) ?? new Map<string, Directive>();
    mine.set(key, directive);
    this.byAgent.set(agentKey, mine);
  }

  private remove(key: string): void {
    const old = this.byKey.get(key);
    if (!old) return;
    this.byKey.delete(key);
    this.byAgent.get(`${old.tenantId}/${old.agentId}`)?.delete(key);
  }
}

export function toDirective(r: DirectiveRecord): Directive {
  return {
    tenantId: r.tenant_id,
    agentId: r.agent_id,
    sessionId: r.session_id ?? undefined,
    toolName: r.tool_name ?? undefined,
    level: r.level,
    score: r.score,
    reason: r.reason,
    reasonCode: r.reason_code,
    findingIds: r.finding_ids,
    contributions: r.contributions,
    signals: r.signals,
    expiresAtMs: r.expires_at,
  };
}
