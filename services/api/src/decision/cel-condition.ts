import { celEnv, isCelError, parse, plan } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { CEL_VARIABLE_NAMES, CEL_VARIABLES, type CelActivation } from './cel-activation.ts';

const CEL_ENV = celEnv({ variables: CEL_VARIABLES, funcs: strings });

/** `true`/`false`, or why the condition could not be evaluated for this call (the rule then does not match). */
export type ConditionResult = boolean | { error: string };

export interface CompiledCondition {
  source: string;
  evaluate(activation: CelActivation): ConditionResult;
}

/**
 * Parses, checks and plans a CEL condition once; evaluating it is then a walk over a prepared plan.
 * Throws an Error naming the problem when the text is not valid CEL or uses a variable or function that
 * does not exist: @bufbuild/cel only reports those while evaluating, which would turn a typo into a rule
 * that silently never matches.
 */
export function compileCondition(source: string): CompiledCondition {
  const parsed = parse(source);
  const problems: string[] = [];
  checkNames(parsed.expr, CEL_VARIABLE_NAMES, problems);
  if (problems.length > 0) throw new Error([...new Set(problems)].join('; '));
  const run = plan(CEL_ENV, parsed);
  return {
    source,
    evaluate(activation) {
      try {
        const result = run(activation);
        if (isCelError(result)) return { error: result.message };
        if (typeof result !== 'boolean')
          return { error: `condition evaluated to a non-bool value (${typeof result})` };
        return result;
      } catch (error) {
        // @bufbuild/cel returns errors as values; this guards the hot path against a library bug all the same.
        return { error: error instanceof Error ? error.message : String(error) };
      }
    },
  };
}

type Expr = ReturnType<typeof parse>['expr'];

// Operators the planner implements itself (they are not in the function registry).
const PLANNER_OPERATORS = new Set([
  '_&&_',
  '_||_',
  '_?_:_',
  '_[_]',
  '_[?_]',
  '_?._',
  '@not_strictly_false',
  '__not_strictly_false__',
]);

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
      if (qualified !== undefined && CEL_ENV.funcs.find(`${qualified}.${call.function}`)) {
        for (const arg of call.args) checkNames(arg, variables, problems);
        return;
      }
      if (!PLANNER_OPERATORS.has(call.function) && CEL_ENV.funcs.find(call.function) === undefined)
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
