import type { ArgsTransform } from '@thoth/contracts';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { type CompiledCondition, type CompileOptions, compileCondition } from './cel-condition.ts';
import { CelCostError, DECISION_COST_LIMIT, formatUnits } from './cel-cost.ts';
import type { RuleEffect } from './types.ts';

/** A policy that cannot be read, validated or compiled; the message names the rule and the field. */
export class PolicyError extends Error {
  override name = 'PolicyError';
}

export const DEFAULT_THRESHOLDS = { warn: 30, stepUp: 60, block: 85 } as const;
export const DEFAULT_HALF_LIFE_SECONDS = 600;
export const DEFAULT_DEFER_TIMEOUT_SECONDS = 60;
/** Matches the server's default hold lifetime (docs/protocol.md §Holds: holds expire after 15 min). */
export const DEFAULT_STEP_UP_TIMEOUT_SECONDS = 900;

const MAX_TIMEOUT_SECONDS = 86_400;
const riskPoints = z.number().min(0).max(100);
const timeoutSeconds = z.number().int().min(1).max(MAX_TIMEOUT_SECONDS);
const argumentNames = z.array(z.string().min(1));
/** IdP groups whose members may approve (docs/approvals.md); empty or absent: anyone with the approver role. */
const approverGroups = z.array(z.string().min(1).max(256)).max(64);
/** Distinct people who must approve; a denial by any one of them blocks. */
const approvalsRequiredSchema = z.number().int().min(1).max(10);

/**
 * The values a MODIFY writes into the arguments are signed (receipt) and stored, as JSON. A YAML policy can
 * spell numbers JSON has not (`.inf`, `.nan`): refused here, when the policy loads, not at the first decision.
 */
const setValues = z.record(z.string().min(1), z.unknown()).superRefine((values, ctx) => {
  const walk = (value: unknown, path: (string | number)[]): void => {
    if (typeof value === 'number' && !Number.isFinite(value))
      ctx.addIssue({
        code: 'custom',
        path,
        message: 'must be a finite number (JSON has no Infinity or NaN)',
      });
    else if (Array.isArray(value)) {
      for (const [i, item] of value.entries()) walk(item, [...path, i]);
    } else if (typeof value === 'object' && value !== null)
      for (const [key, item] of Object.entries(value)) walk(item, [...path, key]);
  };
  walk(values, []);
});

const modifySchema = z
  .strictObject({
    redact: argumentNames.optional(),
    set: setValues.optional(),
    remove: argumentNames.optional(),
  })
  .refine((m) => (m.redact?.length ?? 0) + (m.remove?.length ?? 0) + Object.keys(m.set ?? {}).length > 0, {
    message: 'needs at least one of redact, set, remove',
  });

const ruleSchema = z
  .strictObject({
    // Ids end up in matched_rule_ids and SOC filters: keep them plain.
    id: z
      .string()
      .max(128)
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/,
        'letters, digits and _ . : - only, starting with a letter or digit',
      ),
    description: z.string().optional(),
    condition: z.string().trim().min(1, 'a CEL expression is required'),
    effect: z.enum(['FLAG', 'STEP_UP', 'BLOCK', 'MODIFY', 'DEFER']),
    reason: z.string().trim().min(1),
    reason_code: z
      .string()
      .regex(/^[a-z][a-z0-9_]*$/, 'lower_snake_case')
      .default('policy_rule'),
    /** Added to the call's risk when the rule matches; feeds progressive escalation. */
    risk_points: riskPoints.default(0),
    /** Restricts the rule to these tool names (checked before the condition runs). */
    tools: z.array(z.string().min(1)).min(1).optional(),
    modify: modifySchema.optional(),
    defer_timeout_seconds: timeoutSeconds.optional(),
    step_up_timeout_seconds: timeoutSeconds.optional(),
    approvers: approverGroups.optional(),
    approvals_required: approvalsRequiredSchema.optional(),
  })
  .superRefine((rule, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (rule.effect === 'MODIFY' && rule.modify === undefined)
      issue('modify', 'required when effect is MODIFY');
    if (rule.effect !== 'MODIFY' && rule.modify !== undefined)
      issue('modify', 'only allowed when effect is MODIFY');
    if (rule.effect !== 'DEFER' && rule.defer_timeout_seconds !== undefined)
      issue('defer_timeout_seconds', 'only allowed when effect is DEFER');
    if (rule.effect !== 'STEP_UP' && rule.step_up_timeout_seconds !== undefined)
      issue('step_up_timeout_seconds', 'only allowed when effect is STEP_UP');
    if (rule.effect !== 'STEP_UP' && rule.approvers !== undefined)
      issue('approvers', 'only allowed when effect is STEP_UP');
    if (rule.effect !== 'STEP_UP' && rule.approvals_required !== undefined)
      issue('approvals_required', 'only allowed when effect is STEP_UP');
    // A FLAG rule does nothing but add risk points: without them it would be dead weight.
    if (rule.effect === 'FLAG' && rule.risk_points === 0)
      issue('risk_points', 'must be > 0 when effect is FLAG');
  });

/**
 * A policy as a user writes it (YAML or JSON, snake_case). Unknown keys are errors: a misspelt field would
 * otherwise be ignored silently in a security policy.
 */
export const policyDocumentSchema = z
  .strictObject({
    version: z.number().int().min(1).default(1),
    /** Accumulated-risk thresholds on the 0-100 scale, for progressive escalation. */
    thresholds: z
      .strictObject({
        warn: riskPoints.optional(),
        step_up: riskPoints.optional(),
        block: riskPoints.optional(),
      })
      .optional(),
    /** The tenant's defaults for every STEP_UP hold (a STEP_UP rule may set its own). */
    step_up: z
      .strictObject({
        timeout_seconds: timeoutSeconds.optional(),
        approvers: approverGroups.optional(),
        approvals_required: approvalsRequiredSchema.optional(),
      })
      .optional(),
    session_decay_half_life_seconds: z
      .number()
      .positive()
      .max(7 * MAX_TIMEOUT_SECONDS)
      .default(DEFAULT_HALF_LIFE_SECONDS),
    rules: z.array(ruleSchema),
  })
  .superRefine((doc, ctx) => {
    const seen = new Set<string>();
    doc.rules.forEach((rule, index) => {
      if (seen.has(rule.id))
        ctx.addIssue({
          code: 'custom',
          path: ['rules', index, 'id'],
          message: `duplicate rule id '${rule.id}'`,
        });
      seen.add(rule.id);
    });
    const t = resolveThresholds(doc.thresholds);
    if (!(t.warn <= t.stepUp && t.stepUp <= t.block))
      ctx.addIssue({
        code: 'custom',
        path: ['thresholds'],
        message: `must satisfy warn <= step_up <= block (got ${t.warn}, ${t.stepUp}, ${t.block})`,
      });
  });

export type PolicyDocument = z.infer<typeof policyDocumentSchema>;

export interface CompiledRule {
  id: string;
  description?: string;
  effect: RuleEffect;
  reason: string;
  reasonCode: string;
  riskPoints: number;
  tools?: ReadonlySet<string>;
  modify?: ArgsTransform;
  deferTimeoutSeconds?: number;
  stepUpTimeoutSeconds?: number;
  approvers?: string[];
  approvalsRequired?: number;
  condition: CompiledCondition;
}

/** Who approves a STEP_UP hold and how long it waits. */
export interface StepUpRules {
  timeoutSeconds: number;
  /** IdP groups; empty: anyone with the approver role. */
  approvers: string[];
  approvalsRequired: number;
}

export interface CompiledPolicy {
  version: number;
  thresholds: { warn: number; stepUp: number; block: number };
  /** The tenant's defaults for STEP_UP holds (`step_up` in the document). */
  stepUp: StepUpRules;
  halfLifeMs: number;
  rules: CompiledRule[];
}

/**
 * Validates a policy document and compiles every rule's CEL condition once. Throws PolicyError, also for a
 * condition over the cost limit (cel-cost.ts), naming the rule and the limit; `options.checkCost: false` skips
 * that one check, for a policy accepted before and already in force (its evaluations are bounded all the same).
 */
export function compilePolicy(doc: unknown, options: CompileOptions = {}): CompiledPolicy {
  const parsed = policyDocumentSchema.safeParse(doc);
  if (!parsed.success) {
    const details = parsed.error.issues.map((issue) => `${describePath(issue.path, doc)}: ${issue.message}`);
    throw new PolicyError(`invalid policy: ${details.join('; ')}`);
  }
  const policy = parsed.data;
  const rules = policy.rules.map((rule) => compileRule(rule, options));
  if (options.checkCost !== false) checkDecisionCost(rules);
  return {
    version: policy.version,
    thresholds: resolveThresholds(policy.thresholds),
    stepUp: {
      timeoutSeconds: policy.step_up?.timeout_seconds ?? DEFAULT_STEP_UP_TIMEOUT_SECONDS,
      approvers: policy.step_up?.approvers ?? [],
      approvalsRequired: policy.step_up?.approvals_required ?? 1,
    },
    halfLifeMs: policy.session_decay_half_life_seconds * 1000,
    rules,
  };
}

/** Whether a call of this tool evaluates the rule: a rule without `tools` applies to every tool. */
export function appliesTo(rule: CompiledRule, toolName: string): boolean {
  return rule.tools === undefined || rule.tools.has(toolName);
}

/**
 * Refuses a policy whose conditions' estimates add up, for some tool, to more than DECISION_COST_LIMIT: a call
 * to that tool would, on inputs of the assumed sizes, run out of its budget before its last rules were evaluated.
 * A rule without `tools` counts for every tool.
 */
function checkDecisionCost(rules: readonly CompiledRule[]): void {
  const everyTool = rules.filter((rule) => rule.tools === undefined);
  const tools = new Set(rules.flatMap((rule) => [...(rule.tools ?? [])]));
  const scopes: Array<{ tool: string | undefined; rules: CompiledRule[] }> = [
    { tool: undefined, rules: everyTool },
    ...[...tools].map((tool) => ({ tool, rules: rules.filter((rule) => appliesTo(rule, tool)) })),
  ];
  for (const scope of scopes) {
    const total = scope.rules.reduce((sum, rule) => sum + rule.condition.estimatedCost, 0);
    if (total <= DECISION_COST_LIMIT) continue;
    const costliest = [...scope.rules]
      .sort((a, b) => b.condition.estimatedCost - a.condition.estimatedCost)
      .slice(0, 3)
      .map((rule) => `'${rule.id}' ${formatUnits(rule.condition.estimatedCost)}`);
    const call = scope.tool === undefined ? 'a call' : `a call to '${scope.tool}'`;
    throw new PolicyError(
      `conditions too costly together: ${call} evaluates an estimated ${formatUnits(total)} units of them, ` +
        `over the limit of ${formatUnits(DECISION_COST_LIMIT)} per call (costliest: ${costliest.join(', ')}); ` +
        'restrict rules to their tools, or make them cheaper: see docs/policies.md#cost-limits',
    );
  }
}

function compileRule(rule: PolicyDocument['rules'][number], options: CompileOptions): CompiledRule {
  let condition: CompiledCondition;
  try {
    condition = compileCondition(rule.condition, options);
  } catch (error) {
    if (error instanceof CelCostError)
      throw new PolicyError(`rule '${rule.id}': condition too costly: ${error.message}`);
    const message = error instanceof Error ? error.message : String(error);
    throw new PolicyError(`rule '${rule.id}': invalid condition: ${message}`);
  }
  const compiled: CompiledRule = {
    id: rule.id,
    effect: rule.effect,
    reason: rule.reason,
    reasonCode: rule.reason_code,
    riskPoints: rule.risk_points,
    condition,
  };
  if (rule.description !== undefined) compiled.description = rule.description;
  if (rule.tools) compiled.tools = new Set(rule.tools);
  if (rule.modify) compiled.modify = rule.modify;
  if (rule.effect === 'DEFER')
    compiled.deferTimeoutSeconds = rule.defer_timeout_seconds ?? DEFAULT_DEFER_TIMEOUT_SECONDS;
  if (rule.step_up_timeout_seconds !== undefined)
    compiled.stepUpTimeoutSeconds = rule.step_up_timeout_seconds;
  if (rule.approvers !== undefined) compiled.approvers = rule.approvers;
  if (rule.approvals_required !== undefined) compiled.approvalsRequired = rule.approvals_required;
  return compiled;
}

function resolveThresholds(thresholds: PolicyDocument['thresholds']): CompiledPolicy['thresholds'] {
  return {
    warn: thresholds?.warn ?? DEFAULT_THRESHOLDS.warn,
    stepUp: thresholds?.step_up ?? DEFAULT_THRESHOLDS.stepUp,
    block: thresholds?.block ?? DEFAULT_THRESHOLDS.block,
  };
}

/** `rules[2].effect` → `rule 'pay-limit' (rules[2]).effect`, so an author finds the rule by its id. */
function describePath(path: readonly PropertyKey[], doc: unknown): string {
  const [head, index, ...rest] = path;
  if (head === 'rules' && typeof index === 'number') {
    const id = ruleIdAt(doc, index);
    const rule = id === undefined ? `rules[${index}]` : `rule '${id}' (rules[${index}])`;
    return [rule, ...rest.map(String)].join('.');
  }
  return path.length === 0 ? 'policy' : path.map(String).join('.');
}

function ruleIdAt(doc: unknown, index: number): string | undefined {
  if (typeof doc !== 'object' || doc === null) return undefined;
  const rules = (doc as { rules?: unknown }).rules;
  if (!Array.isArray(rules)) return undefined;
  const rule: unknown = rules[index];
  if (typeof rule !== 'object' || rule === null) return undefined;
  const id = (rule as { id?: unknown }).id;
  return typeof id === 'string' ? id : undefined;
}

/** Reads policy text into a document for `compilePolicy`. Throws PolicyError on a syntax error. */
export function parsePolicyText(text: string, format: 'yaml' | 'json'): unknown {
  try {
    return format === 'yaml' ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new PolicyError(`invalid policy ${format}: ${message}`);
  }
}

/** The approval rules of a STEP_UP: the deciding STEP_UP rule's own, else the policy's defaults. */
export function stepUpRules(policy: CompiledPolicy, winner: CompiledRule | undefined): StepUpRules {
  const rule = winner?.effect === 'STEP_UP' ? winner : undefined;
  return {
    timeoutSeconds: Math.round(rule?.stepUpTimeoutSeconds ?? policy.stepUp.timeoutSeconds),
    approvers: rule?.approvers ?? policy.stepUp.approvers,
    approvalsRequired: rule?.approvalsRequired ?? policy.stepUp.approvalsRequired,
  };
}

/** No rules; default thresholds (warn 30, step_up 60, block 85) and a 600 s half-life. */
export const DEFAULT_POLICY: CompiledPolicy = compilePolicy({ rules: [] });
