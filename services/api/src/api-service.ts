import type { Topics } from '@thoth/contracts';
import type { AvroCodec, Bus, Config, Logger, Store } from '@thoth/platform';
import {
  approvalsPending,
  configuredRedactor,
  publisherPending,
  ReceiptMaker,
  SigningKey,
} from '@thoth/platform';
import type { FastifyInstance } from 'fastify';
import { type AppDeps, buildApp } from './app.ts';
import { BackgroundPublisher } from './background-publisher.ts';
import { OidcSignIn } from './console/oidc-sign-in.ts';
import { loadSsoConfig } from './console/sso-config.ts';
import { ControlState } from './control/control-state.ts';
import { DirectiveIndex } from './directive-index.ts';
import { Enforcer } from './enforce/enforcer.ts';
import { HoldRegistry } from './holds/hold-registry.ts';
import { createAuthenticator } from './http/auth.ts';
import { LiveTail } from './live-tail.ts';
import { defaultPolicySet, loadPolicyFile, type PolicySet } from './policy-source.ts';
import { RateLimiter } from './rate-limiter.ts';
import { SessionStore } from './session-store.ts';
import { SharedSessionStore } from './shared-session-store.ts';

export interface ApiService {
  app: FastifyInstance;
  control: ControlState;
  holds: HoldRegistry;
  directives: DirectiveIndex;
  publisher: BackgroundPublisher;
  signer: SigningKey;
  /** Stops accepting requests, flushes queued decision events, closes the views. */
  stop(): Promise<void>;
}

export interface ApiServiceDeps {
  config: Config;
  log: Logger;
  bus: Bus;
  codec: AvroCodec;
  topics: Topics;
  adminToken: string;
  policies?: PolicySet;
  /** The audit trail the SOC routes read; without it they answer 503. */
  store?: Store;
  /** Signs receipts and evidence bundles; default: the key in THOTH_DATA_DIR. */
  signingKey?: SigningKey;
  isReady: () => boolean;
  /** Tests only: every response checked against its route's declared schemas (see AppDeps). */
  onResponseMismatch?: AppDeps['onResponseMismatch'];
}

/** Builds the API's in-memory state from the bus (control, holds, directives), then the HTTP app. */
export async function startApiService(deps: ApiServiceDeps): Promise<ApiService> {
  const { config, log, bus, codec, topics } = deps;
  const policies =
    deps.policies ?? (config.THOTH_POLICY_FILE ? loadPolicyFile(config.THOTH_POLICY_FILE) : defaultPolicySet);
  const publisher = new BackgroundPublisher({ bus, codec, log });
  const control = new ControlState({
    bus,
    codec,
    topic: topics.control,
    log,
    eventsTopic: topics.events,
    fallbackPolicies: policies,
    usageFlushMs: config.THOTH_KEY_USAGE_FLUSH_SECONDS * 1_000,
  });
  const redactor = configuredRedactor(config);
  const holds = new HoldRegistry({
    bus,
    codec,
    topic: topics.approvals,
    eventsTopic: topics.events,
    publisher,
    log,
    ttlSeconds: config.THOTH_HOLD_TTL_SECONDS,
  });
  const directives = new DirectiveIndex({ bus, codec, topic: topics.directives, log });
  // Replicas share session risk through the bus; one process (embedded) keeps it in memory only.
  const sessions =
    (config.THOTH_SHARED_SESSIONS ?? config.THOTH_MODE === 'distributed')
      ? new SharedSessionStore({
          bus,
          codec,
          publisher,
          topic: topics.sessions,
          halfLifeMs: (tenantId) => control.projection.policies.forTenant(tenantId).halfLifeMs,
          log,
        })
      : new SessionStore();
  const liveTail = new LiveTail({
    bus,
    codec,
    topic: topics.events,
    log,
    redactor,
  });
  await Promise.all([
    control.start(),
    holds.start(),
    directives.start(),
    sessions instanceof SharedSessionStore ? sessions.start() : undefined,
  ]);

  const signer = deps.signingKey ?? SigningKey.loadOrCreate(SigningKey.pathIn(config.THOTH_DATA_DIR));
  await control.commands.publishReceiptKey({
    key_id: signer.keyId,
    public_key_pem: signer.publicKeyPem,
    created_at: Date.now(),
  });

  const enforcer = new Enforcer({
    policies: control.projection.policies,
    redactor,
    sessions,
    directives,
    holds,
    receipts: new ReceiptMaker(signer, config.THOTH_RECEIPTS),
    publisher,
    eventsTopic: topics.events,
    onPublishError: (error) => log.error({ err: error }, 'a decision event could not be built; it is lost'),
  });
  const auth = createAuthenticator({
    control,
    rateLimiter: new RateLimiter(),
    perKeyRate: config.THOTH_RATE_LIMIT_PER_KEY,
    perTenantRate: config.THOTH_RATE_LIMIT_PER_TENANT,
    adminToken: deps.adminToken,
  });
  const sso = config.THOTH_SSO_CONFIG ? new OidcSignIn(loadSsoConfig(config.THOTH_SSO_CONFIG)) : undefined;
  const app = await buildApp({
    sso,
    log,
    bodyLimitBytes: config.THOTH_BODY_LIMIT_BYTES,
    trustProxy: config.THOTH_TRUST_PROXY,
    isReady: deps.isReady,
    auth,
    enforcer,
    holds,
    bus,
    codec,
    eventsTopic: topics.events,
    control,
    signer,
    store: deps.store,
    liveTail,
    redactor,
    dryRunMaxEvents: config.THOTH_DRY_RUN_MAX_EVENTS,
    directives,
    baselineHalfLifeMs: config.THOTH_BASELINE_DECAY_HALF_LIFE_SECONDS * 1_000,
    onResponseMismatch: deps.onResponseMismatch,
  });
  // Read when /metrics is scraped (docs/metrics.md): the queue's length, and each tenant's pending holds (one
  // pass over the holds, whatever the number of tenants).
  const removeMetricSources = [
    publisherPending.sources.add(() => [{ labels: {}, value: publisher.pending }]),
    approvalsPending.sources.add(() => {
      const pending = holds.pendingCounts();
      return control.projection.tenantList().map((tenant) => ({
        labels: { tenant: tenant.tenant_id },
        value: pending.get(tenant.tenant_id) ?? 0,
      }));
    }),
  ];
  return {
    app,
    control,
    holds,
    directives,
    publisher,
    signer,
    stop: async () => {
      for (const remove of removeMetricSources) remove();
      await app.close();
      enforcer.publishPending();
      await publisher.drain();
      await Promise.all([
        control.stop(),
        holds.stop(),
        directives.stop(),
        liveTail.stop(),
        signer.close(),
        sessions instanceof SharedSessionStore ? sessions.stop() : undefined,
      ]);
    },
  };
}
