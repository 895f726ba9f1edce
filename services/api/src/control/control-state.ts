import type { AvroCodec, Bus, CompactedView, Logger } from '@thoth/platform';
import { defaultPolicySet, type PolicySet } from '../policy-source.ts';
import { AdminOutbox, OUTBOX_PREFIX } from './admin-outbox.ts';
import { ControlCommands, type ControlWriter } from './control-commands.ts';
import { ControlProjection } from './control-projection.ts';
import { KeyUsage } from './key-usage.ts';

export interface ControlStateDeps {
  bus: Bus;
  codec: AvroCodec;
  topic: string;
  log: Logger;
  /** Where admin-audit events go (the events topic); without it changes are not audited (tools, tests). */
  eventsTopic?: string;
  /** Policies when a tenant has none managed through the API (THOTH_POLICY_FILE or the default). */
  fallbackPolicies?: PolicySet;
  /** How often this replica publishes its keys' last-used times; 0 = never (kept in memory only). */
  usageFlushMs?: number;
  now?: () => number;
}

/**
 * The control state every API replica holds in memory — tenants, API keys (by hash), policy versions, key
 * usage, receipt public keys — event-sourced on the compacted control topic: a replica rebuilds it at start
 * and follows every change (a revocation through one replica reaches the others as fast as the bus delivers
 * it). It is three parts, wired here to the topic:
 * - `projection` (ControlProjection): the reads, built only from the topic's records;
 * - `commands` (ControlCommands): the writes, each durable on the topic with its admin event before it returns;
 * - `usage` (KeyUsage): keys' last-used times, noted in memory and published on a timer;
 * and the admin-audit outbox (AdminOutbox), whose entries on the topic any replica relays to the events topic.
 */
export class ControlState {
  readonly projection: ControlProjection;
  readonly commands: ControlCommands;
  readonly usage: KeyUsage;
  private readonly outbox: AdminOutbox | undefined;
  private view: CompactedView | undefined;

  constructor(private readonly deps: ControlStateDeps) {
    const writer: ControlWriter = {
      bus: deps.bus,
      codec: deps.codec,
      topic: deps.topic,
      now: () => deps.now?.() ?? Date.now(),
    };
    this.projection = new ControlProjection(deps.fallbackPolicies ?? defaultPolicySet, deps.log, writer.now);
    this.outbox = deps.eventsTopic
      ? new AdminOutbox({
          bus: deps.bus,
          codec: deps.codec,
          controlTopic: deps.topic,
          eventsTopic: deps.eventsTopic,
          log: deps.log,
        })
      : undefined;
    this.commands = new ControlCommands(writer, this.projection, this.outbox);
    this.usage = new KeyUsage(writer, this.projection, deps.log);
  }

  async start(): Promise<void> {
    this.view = await this.deps.bus.openView(this.deps.topic, (key, value, headers) => {
      if (value === null) {
        if (key.startsWith(OUTBOX_PREFIX)) return this.outbox?.settled(key);
        return this.projection.forget(key);
      }
      const decoded = this.deps.codec.decode({ value, headers });
      if (!decoded.ok)
        return this.deps.log.error({ key, reason: decoded.reason }, 'unreadable control record');
      // An admin event still in the outbox (its change is done): relay it, whoever wrote it.
      if (key.startsWith(OUTBOX_PREFIX) && decoded.schema === 'thoth.v1.AdminEvent')
        return this.outbox?.relay(key, decoded.value);
      this.projection.apply(decoded);
    });
    this.usage.start(this.deps.usageFlushMs ?? 0);
  }

  async stop(): Promise<void> {
    this.outbox?.stop();
    await this.usage.stop();
    await this.view?.close();
  }
}
