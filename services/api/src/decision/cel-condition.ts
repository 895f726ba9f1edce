import { celEnv, isCelError, parse, plan } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { CEL_VARIABLE_NAMES, CEL_VARIABLES, type CelActivation } from './cel-activation.ts';
import {
  CEL_COST_LIMIT,
  CelCostError,
  DECISION_COST_LIMIT,
  estimateCost,
  formatUnits,
  meterComprehensions,
  PLANNER_OPERATORS,
} from './cel-cost.ts';
import { CostMeter, meteredFunctions, withMeter } from './cel-cost-meter.ts';

/** Every standard and string-extension function, to check names against and to meter. */
const LIBRARY = celEnv({ funcs: strings });
const CEL_ENV = celEnv({ variables: CEL_VARIABLES, funcs: meteredFunctions(LIBRARY.funcs) });

const LIMIT_TEXT = CEL_COST_LIMIT.toLocaleString('en-US');
const DECISION_LIMIT_TEXT = DECISION_COST_LIMIT.toLocaleString('en-US');

/**
 * `true`/`false`, or why the condition could not be evaluated for this call (the rule then does not match, unless
 * `overBudget`: see CallBudget).
 */
export type ConditionResult = boolean | { error: string; overBudget?: true };

export interface CompiledCondition {
  source: string;
  /** The compile-time estimate of one evaluation, in cost units (cel-cost.ts). */
  estimatedCost: number;
  /**
   * Evaluates the condition, spending at most CEL_COST_LIMIT units, and with a `budget` at most what it allows
   * this condition (each of a call's conditions in turn).
   */
  evaluate(activation: CelActivation, budget?: CallBudget): ConditionResult;
}

/**
 * The units a call's conditions may spend together: DECISION_COST_LIMIT. Each condition is allowed what the ones
 * before it left, less the estimates of the ones after it (reserved for them), never more than CEL_COST_LIMIT. For
 * a policy whose estimates fit the limit (policy.ts refuses others when they are applied) that is never less than
 * the condition's own estimate: on inputs of the sizes the estimates assume, every condition runs in full however
 * the others' inputs grow. A policy in force from before the limit whose estimates add up to more is held to it
 * all the same (its first conditions may be allowed nothing): no policy makes a call cost more.
 *
 * A condition its allowance stopped before the meter saw it pass its own CEL_COST_LIMIT is `overBudget`: the
 * others' inputs, or its own beyond the assumed sizes, took what it needed. Such a rule counts as matched
 * (rule-evaluation.ts): otherwise a caller could switch off a rule that must hold — even one that guards its own
 * input's size — by making some other rule's input large.
 */
export class CallBudget {
  private remaining = DECISION_COST_LIMIT;
  /** The estimates of the conditions still to come, each at most CEL_COST_LIMIT (what it can spend at most). */
  private reserved = 0;

  /** Keeps a condition's estimate for it: call it for each condition the call will evaluate, before any runs. */
  reserve(estimate: number): void {
    this.reserved += Math.min(estimate, CEL_COST_LIMIT);
  }

  /** What the next condition (of this estimate) may spend; call it once per condition, in order. */
  allowanceFor(estimate: number): number {
    this.reserved = Math.max(0, this.reserved - Math.min(estimate, CEL_COST_LIMIT));
    return Math.max(0, Math.min(CEL_COST_LIMIT, this.remaining - this.reserved));
  }

  spend(units: number): void {
    this.remaining = Math.max(0, this.remaining - units);
  }
}

export interface CompileOptions {
  /**
   * Refuse a condition whose estimate exceeds CEL_COST_LIMIT (default). Off only to re-compile a condition
   * that was accepted before, e.g. a policy already in force: its evaluations are bounded all the same.
   */
  checkCost?: boolean;
}

/**
 * Parses, checks and plans a CEL condition once; evaluating it is then a walk over a prepared plan.
 * Throws an Error naming the problem when the text is not valid CEL or uses a variable or function that
 * does not exist: @bufbuild/cel only reports those while evaluating, which would turn a typo into a rule
 * that silently never matches. Throws a CelCostError when its estimated cost exceeds CEL_COST_LIMIT.
 *
 * Every evaluation is metered (cel-cost-meter.ts): one that would spend more than CEL_COST_LIMIT units stops
 * there and answers an error, like any evaluation error — so no input can make a condition run long.
 */
export function compileCondition(source: string, options: CompileOptions = {}): CompiledCondition {
  const parsed = parse(source);
  const problems: string[] = [];
  checkNames(parsed.expr, CEL_VARIABLE_NAMES, problems);
  if (problems.length > 0) throw new Error([...new Set(problems)].join('; '));
  const estimatedCost = estimateCost(parsed.expr);
  if (options.checkCost !== false && estimatedCost > CEL_COST_LIMIT) throw new CelCostError(estimatedCost);
  meterComprehensions(parsed.expr);
  const run = plan(CEL_ENV, parsed);
  return {
    source,
    estimatedCost,
    evaluate(activation, budget) {
      const meter = new CostMeter(budget ? budget.allowanceFor(estimatedCost) : CEL_COST_LIMIT);
      let result: ReturnType<typeof run> | undefined;
      let thrown: unknown;
      try {
        result = withMeter(meter, () => run(activation));
      } catch (error) {
        // @bufbuild/cel returns errors as values; this guards the hot path against a library bug all the same.
        thrown = error;
      } finally {
        budget?.spend(meter.spent);
      }
      // The error the meter raised, whatever the evaluation made of it (`x || error` can still be true).
      if (meter.exceeded)
        return meter.requested > CEL_COST_LIMIT
          ? { error: `cost limit exceeded: evaluating the condition needed more than ${LIMIT_TEXT} units` }
          : {
              error:
                `cost limit exceeded: the call's conditions together may spend ${DECISION_LIMIT_TEXT} units, ` +
                `and this one was stopped at the ${formatUnits(meter.limit)} left to it`,
              overBudget: true,
            };
      if (thrown !== undefined) return { error: thrown instanceof Error ? thrown.message : String(thrown) };
      if (isCelError(result)) return { error: result.message };
      if (typeof result !== 'boolean')
        return { error: `condition evaluated to a non-bool value (${typeof result})` };
      return result;
    },
  };
}

type Expr = ReturnType<typeof parse>['expr'];

// Type names are identifiers in CEL (`type(args.n) == int`).
const TYPE_NAMES = new Set([
  'int',
  'uint',
  'double',
  'bool',
  'string',
  'bytes',
  'list',
  'map',
  'null_type',
  'type',
  'dyn',
]);

/** Collects unknown identifiers and functions; comprehension variables (`exists(k, …)`) are in scope inside. */
function checkNames(expr: Expr | undefined, variables: ReadonlySet<string>, problems: string[]): void {
  if (expr === undefined) return;
  const node = expr.exprKind;
  switch (node.case) {
    case 'identExpr':
      if (!variables.has(node.value.name) && !TYPE_NAMES.has(node.value.name))
        problems.push(`unknown variable '${node.value.name}' (known: ${[...CEL_VARIABLE_NAMES].join(', ')})`);
      return;
    case 'selectExpr':
      checkNames(node.value.operand, variables, problems);
      return;
    case 'callExpr': {
      const call = node.value;
      const qualified = qualifiedName(call.target);
      // `strings.quote(x)` is a namespaced function, not a method call on a variable `strings`.
      if (qualified !== undefined && LIBRARY.funcs.find(`${qualified}.${call.function}`)) {
        for (const arg of call.args) checkNames(arg, variables, problems);
        return;
      }
      if (!PLANNER_OPERATORS.has(call.function) && LIBRARY.funcs.find(call.function) === undefined)
        problems.push(`unknown function '${call.function}'`);
      checkNames(call.target, variables, problems);
      for (const arg of call.args) checkNames(arg, variables, problems);
      return;
    }
    case 'listExpr':
      for (const element of node.value.elements) checkNames(element, variables, problems);
      return;
    case 'structExpr':
      if (node.value.messageName !== '')
        problems.push(`message construction is not supported (${node.value.messageName})`);
      for (const entry of node.value.entries) {
        if (entry.keyKind.case === 'mapKey') checkNames(entry.keyKind.value, variables, problems);
        checkNames(entry.value, variables, problems);
      }
      return;
    case 'comprehensionExpr': {
      const loop = node.value;
      checkNames(loop.iterRange, variables, problems);
      checkNames(loop.accuInit, variables, problems);
      const inner = new Set(variables);
      for (const name of [loop.iterVar, loop.iterVar2, loop.accuVar]) if (name) inner.add(name);
      checkNames(loop.loopCondition, inner, problems);
      checkNames(loop.loopStep, inner, problems);
      checkNames(loop.result, inner, problems);
      return;
    }
    default:
      return;
  }
}

function qualifiedName(expr: Expr | undefined): string | undefined {
  if (expr === undefined) return undefined;
  const node = expr.exprKind;
  if (node.case === 'identExpr') return node.value.name;
  if (node.case === 'selectExpr' && !node.value.testOnly) {
    const operand = qualifiedName(node.value.operand);
    return operand === undefined ? undefined : `${operand}.${node.value.field}`;
  }
  return undefined;
}
