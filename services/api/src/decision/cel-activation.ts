import {
  type CelInput,
  type CelMap,
  type CelMapType,
  CelScalar,
  celList,
  celMap,
  mapType,
} from '@bufbuild/cel';
import { argsView, isPlainObject } from '@thoth/contracts';
import type { SessionRisk, ToolCall } from './types.ts';

/**
 * THE CEL ACTIVATION: the variables every policy condition can use. This is a public contract (users write
 * rules against it), so it is declared here and nowhere else; change it only compatibly.
 *
 * | variable              | CEL type        | value                                                              |
 * |-----------------------|-----------------|--------------------------------------------------------------------|
 * | `tool`                | string          | the tool name                                                      |
 * | `args`                | map(string,dyn) | the tool arguments as one flat map (`argsView`: kwargs by name,     |
 * |                       |                 | positionals as `arg0`, `arg1`…, a lone dict argument's own keys)    |
 * | `agent`               | string          | the agent id                                                       |
 * | `user`                | string          | the user id                                                        |
 * | `session.calls`       | list(string)    | the tools the SDK reports as executed in this session              |
 * | `session.count`       | int             | calls of this session the API decided before this one              |
 * | `session.blocked`     | int             | how many of those were answered BLOCK                              |
 * | `purpose`             | string          | the declared purpose                                               |
 * | `data_classification` | string          | the declared data classification                                   |
 * | `environment`         | string          | e.g. `prod`                                                        |
 * | `time.hour`           | int             | hour of the decision, UTC, 0-23                                    |
 * | `time.weekday`        | int             | day of the week, UTC, 0 = Sunday                                   |
 * | `time.epoch_seconds`  | int             | seconds since the Unix epoch                                       |
 *
 * A missing string is `""`. JSON numbers inside `args` that are whole (and safe integers) become CEL `int`,
 * others `double`, so `args.amount > 1000` holds for both 1500 and 1500.5 and `args.n * 2` works on whole
 * numbers (CEL compares int with double, but does not mix them in arithmetic: write `args.price * 2.0`).
 * Reading a key that is absent is an error (the rule then does not match): guard it with `has(args.key)`.
 * The string extension functions (`lowerAscii`, `split`, `indexOf`, …) are available besides standard CEL.
 */
export const CEL_VARIABLES: {
  tool: typeof CelScalar.STRING;
  args: CelMapType<typeof CelScalar.STRING, typeof CelScalar.DYN>;
  agent: typeof CelScalar.STRING;
  user: typeof CelScalar.STRING;
  session: CelMapType<typeof CelScalar.STRING, typeof CelScalar.DYN>;
  purpose: typeof CelScalar.STRING;
  data_classification: typeof CelScalar.STRING;
  environment: typeof CelScalar.STRING;
  time: CelMapType<typeof CelScalar.STRING, typeof CelScalar.INT>;
} = {
  tool: CelScalar.STRING,
  args: mapType(CelScalar.STRING, CelScalar.DYN),
  agent: CelScalar.STRING,
  user: CelScalar.STRING,
  session: mapType(CelScalar.STRING, CelScalar.DYN),
  purpose: CelScalar.STRING,
  data_classification: CelScalar.STRING,
  environment: CelScalar.STRING,
  time: mapType(CelScalar.STRING, CelScalar.INT),
};

/** The activation's TypeScript shape; `compileCondition` checks it against `CEL_VARIABLES` at compile time. */
export interface CelActivation {
  tool: string;
  args: CelMap;
  agent: string;
  user: string;
  session: { calls: readonly string[]; count: bigint; blocked: bigint };
  purpose: string;
  data_classification: string;
  environment: string;
  time: { hour: bigint; weekday: bigint; epoch_seconds: bigint };
}

export const CEL_VARIABLE_NAMES: ReadonlySet<string> = new Set(Object.keys(CEL_VARIABLES));

const MS_PER_HOUR = 3_600_000;
const MS_PER_DAY = 86_400_000;
const EPOCH_WEEKDAY = 4; // 1970-01-01 was a Thursday

/** `session` is the state stored BEFORE this call. */
export function buildCelActivation(call: ToolCall, session: SessionRisk | undefined): CelActivation {
  return {
    tool: call.toolName,
    args: toCelMap(argsView(call.toolArgs)),
    agent: call.agentId,
    user: call.userId,
    session: {
      calls: call.sessionToolCalls,
      count: BigInt(session?.calls ?? 0),
      blocked: BigInt(session?.blocked ?? 0),
    },
    purpose: call.purpose ?? '',
    data_classification: call.dataClassification ?? '',
    environment: call.environment,
    // Plain arithmetic instead of Date: cheaper on the hot path, and UTC by construction.
    time: {
      hour: BigInt(floorMod(Math.floor(call.nowMs / MS_PER_HOUR), 24)),
      weekday: BigInt(floorMod(Math.floor(call.nowMs / MS_PER_DAY) + EPOCH_WEEKDAY, 7)),
      epoch_seconds: BigInt(Math.floor(call.nowMs / 1000)),
    },
  };
}

function floorMod(value: number, modulus: number): number {
  return ((value % modulus) + modulus) % modulus;
}

/**
 * JSON data → CEL values, converted once per decision: whole numbers become `int` (bigint), objects CEL maps and
 * arrays CEL lists, the rest keeps its JSON meaning. Handing @bufbuild/cel plain objects instead would make it
 * copy an object into a new map each time a condition reads it (`args.x` inside a loop: once per iteration).
 */
export function toCelValue(value: unknown): CelInput {
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'bigint':
      return value;
    case 'number':
      return Number.isSafeInteger(value) ? BigInt(value) : value;
    case 'object': {
      if (value === null) return null;
      if (Array.isArray(value)) return celList(value.map(toCelValue));
      if (!isPlainObject(value)) return String(value);
      return toCelMap(value);
    }
    default:
      // Not JSON data (cannot come from a request body): make it visible but inert.
      return null;
  }
}

function toCelMap(object: { [key: string]: unknown }): CelMap {
  const map = new Map<string, CelInput>();
  for (const [key, member] of Object.entries(object)) {
    if (member !== undefined) map.set(key, toCelValue(member));
  }
  return celMap(map);
}
