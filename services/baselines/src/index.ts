// The package's one entry: what the Thoth runtime (services/thoth) starts and the CLI calls.
export { type AgentBaseline, baselineSettings } from './agent-baseline.ts';
export { BaselinesConsumer } from './baselines-consumer.ts';
// The read model the API serves (GET /v1/baselines): a baseline as SOC analysts see it.
export { baselineState, baselineView } from './profile-view.ts';
