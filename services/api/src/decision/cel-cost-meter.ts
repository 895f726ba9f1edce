import {
  type CelFunc,
  type CelList,
  CelScalar,
  type CelValue,
  celFunc,
  celList,
  celMethod,
  isCelList,
  isCelMap,
  listType,
} from '@bufbuild/cel';
import {
  APPEND_FUNCTION,
  CEL_COST_LIMIT,
  CHARS_PER_UNIT,
  PER_CHARACTER_FACTOR,
  RANGE_FUNCTION,
} from './cel-cost.ts';

/**
 * The run-time half of the cost model (cel-cost.ts): a meter per evaluation, charged by every function call and
 * by the calls `meterComprehensions` puts into each comprehension. Past the limit the charging call throws; the
 * planner does not catch it, so the evaluation ends at once and `plan()`'s own guard turns it into an error
 * value (the condition's error, listed in `rule_errors`: the rule does not match, unless it was the call's
 * budget that stopped it, see CallBudget).
 */
export class CostMeter {
  spent = 0;
  exceeded = false;
  /** What the evaluation asked for in all when the meter refused it (its spending so far plus the refused charge). */
  requested = 0;
  /** The operands last charged: a function group hands every overload it tries the same array. */
  lastOperands: readonly CelValue[] | undefined;

  constructor(readonly limit: number = CEL_COST_LIMIT) {}

  charge(units: number): void {
    if (!this.exceeded && this.spent + units <= this.limit) {
      this.spent += units;
      return;
    }
    if (!this.exceeded) this.requested = this.spent + units;
    this.exceeded = true;
    throw new Error(`cost limit exceeded (limit ${this.limit.toLocaleString('en-US')} units)`);
  }
}

// Evaluation is synchronous, so one meter is active at a time; functions find it here.
let activeMeter: CostMeter | undefined;

/** Runs `evaluate` with `meter` charged by the metered functions it calls. */
export function withMeter<T>(meter: CostMeter, evaluate: () => T): T {
  const previous = activeMeter;
  activeMeter = meter;
  try {
    return evaluate();
  } finally {
    activeMeter = previous;
  }
}

/**
 * Every function of `funcs`, metered: a call first charges what it reads (`operandUnits`), then runs. Also the
 * two functions the rewritten comprehensions call, a linear `replace` (the extension's rebuilds the whole
 * string per occurrence: one call on a 1 MB argument ran for minutes) and faster `lowerAscii`/`upperAscii`.
 */
export function meteredFunctions(funcs: Iterable<CelFunc>): CelFunc[] {
  const metered: CelFunc[] = [];
  for (const func of [...funcs, ...FASTER_STRING_FUNCTIONS]) {
    const factor = PER_CHARACTER_FACTOR[func.name] ?? 1;
    const reads = func.name === 'size' ? sizeReads : operandUnits;
    // By name, not by overload: the first overload the group tries charges, whichever one then runs.
    metered.push(
      chargedBefore(func, (target, args) => {
        let units = reads(target);
        for (const arg of args) units += reads(arg);
        return Math.ceil(units * factor);
      }),
    );
  }
  metered.push(
    // A whole comprehension, before the library copies its range: the range's size times the units of one
    // iteration (1 + the nodes of its loop, the literal second operand).
    chargedBefore(
      celFunc(RANGE_FUNCTION, [CelScalar.DYN, CelScalar.INT], CelScalar.DYN, (range) => range),
      (_target, [range, perElement]) => {
        const size = isCelList(range) || isCelMap(range) ? range.size : 1;
        return size * (typeof perElement === 'bigint' ? Number(perElement) : 1);
      },
    ),
    // One unit per element appended: the accumulator grows in place (see `appendToAccumulator`).
    chargedBefore(
      celFunc(
        APPEND_FUNCTION,
        [listType(CelScalar.DYN), listType(CelScalar.DYN)],
        listType(CelScalar.DYN),
        appendToAccumulator,
      ),
      (_target, args) => {
        const added = args[1];
        return isCelList(added) ? added.size : 1;
      },
    ),
  );
  return metered;
}

/**
 * `size` of a list, map or bytes reads a stored count: free, so `size(args.items) > 1000 || …` can guard a rule
 * against a big input however big it is. `size` of a string counts its code points one by one.
 */
function sizeReads(value: CelValue | undefined): number {
  return typeof value === 'string' ? operandUnits(value) : 0;
}

/**
 * `func` with a `call` that charges the active meter `units(...)` first. Only `call` differs: the rest (name,
 * overload id, types) is `func`'s own, through the prototype, so the wrapper replaces `func` in its group.
 */
function chargedBefore(
  func: CelFunc,
  units: (target: CelValue | undefined, args: readonly CelValue[]) => number,
): CelFunc {
  const wrapped: CelFunc = Object.create(func, {
    call: {
      value(id: number, target: CelValue | undefined, args: CelValue[]) {
        const meter = activeMeter;
        if (meter !== undefined && meter.lastOperands !== args) {
          meter.lastOperands = args;
          meter.charge(units(target, args));
        }
        return func.call(id, target, args);
      },
    },
  });
  return wrapped;
}

// What a list or map costs to read, by identity: inputs are read again on every iteration of a loop.
const containerUnits = new WeakMap<object, number>();

/** 1 unit per element of a list or map (nested ones included), 1 per CHARS_PER_UNIT characters of a string. */
export function operandUnits(value: CelValue | undefined): number {
  if (typeof value === 'string') return value.length / CHARS_PER_UNIT;
  if (value instanceof Uint8Array) return value.length / CHARS_PER_UNIT;
  if (!isCelList(value) && !isCelMap(value)) return 0;
  const known = containerUnits.get(value);
  if (known !== undefined) return known;
  let units = 0;
  if (isCelList(value)) for (const element of value) units += 1 + operandUnits(element);
  else for (const [key, member] of value) units += 1 + operandUnits(key) + operandUnits(member);
  containerUnits.set(value, units);
  return units;
}

// The arrays behind the lists `appendToAccumulator` made, which it may still grow.
const accumulators = new WeakMap<CelList, CelValue[]>();

/**
 * `accumulator + added` for the `map`/`filter` macros, in amortized O(1): the library's list `+` nests a lazy
 * concatenation per element, which the next loop then walks in O(n²) (3,000 elements took 140 ms, 5,000
 * overflowed the stack). Growing the accumulator in place is safe because only the macro's accumulator
 * variable (`@result`, which CEL text cannot name) holds it, and the macro drops the previous value each step.
 */
function appendToAccumulator(accumulator: CelList, added: CelList): CelList {
  const grown = accumulators.get(accumulator);
  if (grown !== undefined) {
    for (const value of added) grown.push(value);
    return accumulator;
  }
  const values = [...accumulator, ...added];
  const list = celList(values);
  accumulators.set(list, values);
  return list;
}

/** What one occurrence costs `linearReplace` besides the replacement's characters (measured ~140 ns). */
const UNITS_PER_REPLACEMENT = 3;

/**
 * The strings extension's `replace(old, new[, n])`, in linear time and with the same results, including its
 * behaviour for an empty `old` (`new` inserted `n` times at the start) and a negative `n` (no replacement).
 * The call charged the operands; each occurrence is charged as it is found, so a `new` that makes the output
 * far larger than the operands is stopped before it is built.
 */
function linearReplace(text: string, old: string, replacement: string, limit?: bigint): string {
  const count = limit === undefined ? text.length : Number(limit);
  if (count <= 0) return text;
  const perOccurrence = UNITS_PER_REPLACEMENT + replacement.length / CHARS_PER_UNIT;
  if (old === '') {
    activeMeter?.charge(Math.ceil(count * perOccurrence));
    return replacement.repeat(count) + text;
  }
  const parts: string[] = [];
  let from = 0;
  for (let at = text.indexOf(old); at !== -1 && parts.length < 2 * count; at = text.indexOf(old, from)) {
    activeMeter?.charge(perOccurrence);
    parts.push(text.slice(from, at), replacement);
    from = at + old.length;
  }
  parts.push(text.slice(from));
  return parts.join('');
}

// The extension's case functions build their result a character at a time (~110 ns a character); these are
// the same ASCII-only mappings through the native regular expression engine (~20 ns at worst, alternating case).
const ASCII_UPPER = /[A-Z]+/g;
const ASCII_LOWER = /[a-z]+/g;

const HIGH_SURROGATE = /[\uD800-\uDBFF]/;

/**
 * Code points in `text`, as CEL's `size` counts them (a surrogate pair is one, a lone surrogate one too) without
 * the library's `[...text]`, which builds an array of every character (~10 ns a character; here one native scan
 * for text without surrogates, ~3 ns a character for text with them).
 */
export function codePointCount(text: string): number {
  // Most strings have no surrogate: one native scan answers for them.
  if (!HIGH_SURROGATE.test(text)) return text.length;
  let count = text.length;
  for (let i = 0; i < text.length - 1; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        count--;
        i++;
      }
    }
  }
  return count;
}

/**
 * Replacements of library functions that were slow (see above), same ids so they win: the strings extension's
 * case mappings and `replace`, and the standard `size` of a string.
 */
const FASTER_STRING_FUNCTIONS: readonly CelFunc[] = [
  celFunc('size', [CelScalar.STRING], CelScalar.INT, (text: string) => BigInt(codePointCount(text))),
  celMethod('size', CelScalar.STRING, [], CelScalar.INT, function () {
    return BigInt(codePointCount(this));
  }),
  celMethod('lowerAscii', CelScalar.STRING, [], CelScalar.STRING, function () {
    return this.replace(ASCII_UPPER, (run) => run.toLowerCase());
  }),
  celMethod('upperAscii', CelScalar.STRING, [], CelScalar.STRING, function () {
    return this.replace(ASCII_LOWER, (run) => run.toUpperCase());
  }),
  celMethod(
    'replace',
    CelScalar.STRING,
    [CelScalar.STRING, CelScalar.STRING],
    CelScalar.STRING,
    function (old, replacement) {
      return linearReplace(this, old, replacement);
    },
  ),
  celMethod(
    'replace',
    CelScalar.STRING,
    [CelScalar.STRING, CelScalar.STRING, CelScalar.INT],
    CelScalar.STRING,
    function (old, replacement, limit) {
      return linearReplace(this, old, replacement, limit);
    },
  ),
];
