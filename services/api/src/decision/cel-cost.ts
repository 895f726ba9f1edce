import type { parse } from '@bufbuild/cel';

/**
 * THE COST MODEL OF A CONDITION. One unit is about the work of evaluating one node of a condition (some tens of
 * nanoseconds here); the same units serve the estimate made when a rule is compiled and the meter that bounds
 * each evaluation (cel-cost-meter.ts):
 *
 * - a node of a condition costs 1 unit, CALL_UNITS when it calls a function (@bufbuild/cel resolves the
 *   overload on every call);
 * - a comprehension (`all`, `exists`, `exists_one`, `map`, `filter`) costs, per element of its range, 1 unit
 *   plus the units of the nodes of its loop (condition and step), charged in full before it starts: a rule's
 *   cost depends on the sizes of its inputs, not on where in a list a match happens to be;
 * - a function call also costs what it reads: 1 unit per element of a list or map (nested ones included) and
 *   1 unit per CHARS_PER_UNIT characters of a string, times a factor for the functions that are slower per
 *   character (PER_CHARACTER_FACTOR).
 *
 * Measured here (2-core machine, a rule just under the limit over 2,000 items: 98,000 units), a unit takes
 * 50-150 ns once the JIT has compiled the library's loop, so the limit bounds one evaluation to 5-15 ms; the
 * first evaluations in a process take several times that (35-50 ms), once.
 *
 * @bufbuild/cel has no cost tracking of its own (cel-go's `CostLimit` has no counterpart there), hence this.
 */

/** Units one condition may spend on one evaluation, and the most its estimate may reach when it is compiled. */
export const CEL_COST_LIMIT = 100_000;
/**
 * Units all the conditions evaluated for one call may spend together, and the most their estimates may add up to
 * for any one tool when a policy is compiled: without it, a policy of many rules each just under CEL_COST_LIMIT
 * would add up to a stall (200 of them, 2 s a decision).
 */
export const DECISION_COST_LIMIT = 200_000;
/** The estimate's iteration count for a comprehension over a list it cannot see (an input, a computed list). */
export const ASSUMED_LIST_SIZE = 1_000;
/** String characters per unit: native string scans (contains, ==, split, indexOf) take ~2.5 ns a character. */
export const CHARS_PER_UNIT = 20;
/** The variable the macros (`all`, `exists`, `map`, …) accumulate their result in; CEL text cannot name it. */
const ACCUMULATOR = '@result';
/** A node that calls a function: ~150-300 ns a call, against ~10-50 ns for reading a variable or a constant. */
export const CALL_UNITS = 4;
/** What the estimate charges for an operand it cannot see: a string of 100 characters. */
const ASSUMED_OPERAND_UNITS = 100 / CHARS_PER_UNIT;

/** The functions the compiled condition calls to charge the meter (`@` keeps them out of CEL text). */
export const RANGE_FUNCTION = '@thoth_cost_range';
/** What `map` and `filter` add their elements to their result list with (see cel-cost-meter.ts). */
export const APPEND_FUNCTION = '@thoth_append';

type Expr = NonNullable<ReturnType<typeof parse>['expr']>;

/** Operators the planner evaluates itself (they are not functions, so the meter never sees them). */
export const PLANNER_OPERATORS: ReadonlySet<string> = new Set([
  '_&&_',
  '_||_',
  '_?_:_',
  '_[_]',
  '_[?_]',
  '_?._',
  '@not_strictly_false',
  '__not_strictly_false__',
]);

/**
 * Functions that loop over each character in JavaScript (instead of a native scan) cost more a character:
 * measured against `contains` (~2.5 ns a character), `strings.quote` and `format` take ~110 ns, `split` and
 * `lowerAscii`/`upperAscii` ~20 ns, RE2 `matches` ~12 ns. `size` of a string counts code points its own way
 * (cel-cost-meter.ts, at most ~3 ns a character): a unit per CHARS_PER_UNIT like a native scan, so a guard such as
 * `size(args.sql) > 10000 || …` holds for any string the enforce API accepts (1 MiB: about 52,000 units).
 */
export const PER_CHARACTER_FACTOR: Readonly<Record<string, number>> = {
  lowerAscii: 8,
  upperAscii: 8,
  'strings.quote': 50,
  format: 50,
  trim: 10,
  split: 8,
  matches: 5,
};

// `size` of a list or map is a stored count (cel-cost-meter.ts leaves it free); the planner's operators are not
// functions at all.
const READS_NOTHING: ReadonlySet<string> = new Set([...PLANNER_OPERATORS, 'size']);

/** A condition whose estimated cost is over CEL_COST_LIMIT. */
export class CelCostError extends Error {
  override name = 'CelCostError';
  constructor(readonly estimate: number) {
    super(
      `estimated cost ${formatUnits(estimate)} exceeds the limit of ${formatUnits(CEL_COST_LIMIT)} ` +
        `(a comprehension over an input list counts ${formatUnits(ASSUMED_LIST_SIZE)} iterations, ` +
        'so nested comprehensions, or `in` on an input list inside one, multiply: see docs/policies.md#cost-limits)',
    );
  }
}

export function formatUnits(units: number): string {
  return Math.round(units).toLocaleString('en-US');
}

/**
 * The worst-case cost of evaluating `expr` once: what each node costs, times how many times the enclosing
 * comprehensions run it. A comprehension over a list literal runs its length; over anything else,
 * ASSUMED_LIST_SIZE. Operands it cannot see are charged as ASSUMED_OPERAND_UNITS, the list on the right of
 * `in` as ASSUMED_LIST_SIZE elements.
 */
export function estimateCost(expr: Expr | undefined, times = 1): number {
  if (expr === undefined) return 0;
  const node = expr.exprKind;
  switch (node.case) {
    case 'constExpr':
    case 'identExpr':
      return times;
    case 'selectExpr':
      return times + estimateCost(node.value.operand, times);
    case 'listExpr':
      return times + sum(node.value.elements.map((element) => estimateCost(element, times)));
    case 'structExpr':
      return (
        times +
        sum(
          node.value.entries.map(
            (entry) =>
              (entry.keyKind.case === 'mapKey' ? estimateCost(entry.keyKind.value, times) : 0) +
              estimateCost(entry.value, times),
          ),
        )
      );
    case 'callExpr': {
      const call = node.value;
      const operands = call.target === undefined ? call.args : [call.target, ...call.args];
      const readUnits = READS_NOTHING.has(call.function)
        ? 0
        : characterFactor(call) *
          sum(
            operands.map((operand) =>
              call.function === '@in' && operand === call.args[1]
                ? listUnits(operand)
                : operandUnits(operand),
            ),
          );
      return (
        times * (nodeUnits(call.function) + readUnits) +
        sum(operands.map((operand) => estimateCost(operand, times)))
      );
    }
    case 'comprehensionExpr': {
      const loop = node.value;
      const iterations = times * rangeSize(loop.iterRange);
      return (
        times +
        estimateCost(loop.iterRange, times) +
        estimateCost(loop.accuInit, times) +
        iterations + // copying the range: 1 unit per element
        estimateCost(loop.loopCondition, iterations) +
        estimateCost(loop.loopStep, iterations) +
        estimateCost(loop.result, times)
      );
    }
    default:
      return times;
  }
}

/** PER_CHARACTER_FACTOR of a call, namespaced functions (`strings.quote(x)`) included. */
function characterFactor(call: { function: string; target?: Expr | undefined }): number {
  const namespace = call.target?.exprKind.case === 'identExpr' ? call.target.exprKind.value.name : undefined;
  return PER_CHARACTER_FACTOR[`${namespace}.${call.function}`] ?? PER_CHARACTER_FACTOR[call.function] ?? 1;
}

/** How many elements a comprehension over `expr` iterates: known for literals and for map/filter over them. */
function rangeSize(expr: Expr | undefined): number {
  const node = expr?.exprKind;
  if (node?.case === 'listExpr') return node.value.elements.length;
  if (node?.case === 'structExpr') return node.value.entries.length;
  // map() and filter() build a list no longer than their own range.
  if (node?.case === 'comprehensionExpr' && node.value.accuInit?.exprKind.case === 'listExpr')
    return rangeSize(node.value.iterRange);
  return ASSUMED_LIST_SIZE;
}

function listUnits(expr: Expr | undefined): number {
  const node = expr?.exprKind;
  if (node?.case === 'listExpr' || node?.case === 'structExpr' || node?.case === 'comprehensionExpr')
    return rangeSize(expr) + operandUnits(expr);
  return ASSUMED_LIST_SIZE;
}

/**
 * What reading a value costs a function: literals by their size, a macro's accumulator (a bool, a count, or the
 * list `map`/`filter` grow in place) nothing, anything else ASSUMED_OPERAND_UNITS.
 */
function operandUnits(expr: Expr | undefined): number {
  const node = expr?.exprKind;
  if (node?.case === 'identExpr' && node.value.name === ACCUMULATOR) return 0;
  if (node?.case === 'constExpr') {
    const constant = node.value.constantKind;
    if (constant.case === 'stringValue') return constant.value.length / CHARS_PER_UNIT;
    if (constant.case === 'bytesValue') return constant.value.length / CHARS_PER_UNIT;
    return 0;
  }
  if (node?.case === 'listExpr') return sum(node.value.elements.map((e) => 1 + operandUnits(e)));
  return ASSUMED_OPERAND_UNITS;
}

function sum(values: readonly number[]): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}

function nodeUnits(functionName: string): number {
  return PLANNER_OPERATORS.has(functionName) ? 1 : CALL_UNITS;
}

/** The units of the nodes in `expr`: one evaluation of it walks each once (nested loops' bodies counted once). */
export function nodeCost(expr: Expr | undefined): number {
  if (expr === undefined) return 0;
  const node = expr.exprKind;
  switch (node.case) {
    case 'selectExpr':
      return 1 + nodeCost(node.value.operand);
    case 'listExpr':
      return 1 + sum(node.value.elements.map(nodeCost));
    case 'structExpr':
      return (
        1 +
        sum(
          node.value.entries.map(
            (entry) =>
              (entry.keyKind.case === 'mapKey' ? nodeCost(entry.keyKind.value) : 0) + nodeCost(entry.value),
          ),
        )
      );
    case 'callExpr':
      return (
        nodeUnits(node.value.function) + nodeCost(node.value.target) + sum(node.value.args.map(nodeCost))
      );
    case 'comprehensionExpr': {
      const loop = node.value;
      return (
        1 +
        nodeCost(loop.iterRange) +
        nodeCost(loop.accuInit) +
        nodeCost(loop.loopCondition) +
        nodeCost(loop.loopStep) +
        nodeCost(loop.result)
      );
    }
    default:
      return 1;
  }
}

/**
 * Rewrites every comprehension of a freshly parsed condition (in place) so that evaluating it charges the meter:
 * its range goes through RANGE_FUNCTION, which charges (1 + the loop's node units) per element before the library
 * copies the range and iterates it — or ends the evaluation there, when the meter cannot cover that.
 */
export function meterComprehensions(expr: Expr | undefined): void {
  if (expr === undefined) return;
  const node = expr.exprKind;
  switch (node.case) {
    case 'selectExpr':
      meterComprehensions(node.value.operand);
      return;
    case 'listExpr':
      for (const element of node.value.elements) meterComprehensions(element);
      return;
    case 'structExpr':
      for (const entry of node.value.entries) {
        if (entry.keyKind.case === 'mapKey') meterComprehensions(entry.keyKind.value);
        meterComprehensions(entry.value);
      }
      return;
    case 'callExpr':
      meterComprehensions(node.value.target);
      for (const arg of node.value.args) meterComprehensions(arg);
      return;
    case 'comprehensionExpr': {
      const loop = node.value;
      const perElement = 1 + nodeCost(loop.loopCondition) + nodeCost(loop.loopStep);
      for (const part of [loop.iterRange, loop.accuInit, loop.loopCondition, loop.loopStep, loop.result])
        meterComprehensions(part);
      if (loop.accuInit?.exprKind.case === 'listExpr') appendInPlace(loop.loopStep, loop.accuVar);
      if (loop.iterRange)
        loop.iterRange = callNode(expr.id, RANGE_FUNCTION, [loop.iterRange, intNode(expr.id, perElement)]);
      return;
    }
    default:
      return;
  }
}

/**
 * In a `map`/`filter` step, `@result + [element]` becomes APPEND_FUNCTION(@result, [element]). The macros
 * build exactly that shape (filter's inside a `_?_:_`), and only they can name the accumulator.
 */
function appendInPlace(expr: Expr | undefined, accumulator: string): void {
  if (expr?.exprKind.case !== 'callExpr') return;
  const call = expr.exprKind.value;
  const [left] = call.args;
  if (
    call.function === '_+_' &&
    left?.exprKind.case === 'identExpr' &&
    left.exprKind.value.name === accumulator
  ) {
    call.function = APPEND_FUNCTION;
    return;
  }
  if (call.function === '_?_:_') for (const arg of call.args) appendInPlace(arg, accumulator);
}

// The ids of added nodes are the comprehension's own, so an error raised there points at the comprehension.
function callNode(id: bigint, name: string, args: Expr[]): Expr {
  return {
    $typeName: 'cel.expr.Expr',
    id,
    exprKind: { case: 'callExpr', value: { $typeName: 'cel.expr.Expr.Call', function: name, args } },
  };
}

function intNode(id: bigint, value: number): Expr {
  return {
    $typeName: 'cel.expr.Expr',
    id,
    exprKind: {
      case: 'constExpr',
      value: { $typeName: 'cel.expr.Constant', constantKind: { case: 'int64Value', value: BigInt(value) } },
    },
  };
}
