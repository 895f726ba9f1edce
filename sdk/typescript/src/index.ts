/**
 * @thoth/sdk — govern an AI agent's tool calls with Thoth (see README.md).
 *
 *   import * as thoth from '@thoth/sdk';
 *   const agent = thoth.instrument(new InvoiceAgent(), { agentId, tenantId, approvedScope });
 *   …
 *   await thoth.flush(); // before process.exit(); a script that just ends is flushed automatically
 */
export type { Decision } from './decision.ts';
export {
  type Governed,
  type GovernedOpenAITools,
  type GovernedTool,
  type GovernedTools,
  type Instrumented,
  instrument,
  instrumentAnthropic,
  instrumentOpenAI,
  type ToolObject,
  wrapTool,
} from './instrument.ts';
export {
  type EnforcementMode,
  type KafkaTelemetryOptions,
  type TelemetryOptions,
  ThothConfigError,
  type ThothLogger,
  type ThothOptions,
} from './options.ts';
export { type BlockingDecision, ThothPolicyViolation } from './policy-violation.ts';
export {
  canonicalJson,
  type DecisionReceipt,
  type ReceiptPublicKey,
  type ReceiptVerification,
  type ReceiptVerificationMode,
  signedDecision,
  verifyInclusion,
  verifyReceipt,
} from './receipts.ts';
export { flush, shutdown, telemetryStats } from './telemetry/telemetry-registry.ts';
export type { TelemetryStats } from './telemetry/telemetry-sender.ts';
