/**
 * The three `tool_args` shapes SDKs send (docs/protocol.md §Tool argument shapes):
 *   (a) the single dict argument itself            `{"path": "/tmp/x", "mode": "w"}`
 *   (b) positionals and keyword arguments          `{"args": ["/tmp/x"], "kwargs": {"mode": "w"}}`
 *   (c) indexed positionals                        `{"arg0": "/tmp/x", "arg1": "w"}`
 * plus what a sloppy client may send instead (nothing, a bare array, a bare scalar).
 *
 * Policies see one flat view of every shape (`argsView`), and a MODIFY rewrites the arguments in the SAME
 * shape as received (`applyArgsTransform`) so each SDK's apply rule puts them back into the real call.
 */

export type JsonObject = Record<string, unknown>;

/** A MODIFY rule's rewrite. Names are argument names as `argsView` shows them; `a.b` reaches nested keys. */
export interface ArgsTransform {
  redact?: string[];
  set?: Record<string, unknown>;
  remove?: string[];
}

export const REDACTED = '[REDACTED]';

type ArgsShape =
  | { kind: 'empty'; original: undefined | null }
  | { kind: 'dict'; dict: JsonObject }
  | { kind: 'call'; positionals: unknown[]; kwargs: JsonObject | undefined }
  | { kind: 'indexed'; dict: JsonObject }
  | { kind: 'list'; positionals: unknown[] }
  | { kind: 'scalar'; value: unknown };

const INDEXED_KEY = /^arg(\d+)$/;

export function isPlainObject(value: unknown): value is JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function detectArgsShape(toolArgs: unknown): ArgsShape {
  if (toolArgs === undefined || toolArgs === null) return { kind: 'empty', original: toolArgs };
  if (Array.isArray(toolArgs)) return { kind: 'list', positionals: toolArgs };
  if (!isPlainObject(toolArgs)) return { kind: 'scalar', value: toolArgs };
  const keys = Object.keys(toolArgs);
  if (isCallShape(toolArgs, keys)) {
    const kwargs = toolArgs.kwargs;
    return {
      kind: 'call',
      positionals: toolArgs.args as unknown[],
      kwargs: isPlainObject(kwargs) ? kwargs : undefined,
    };
  }
  if (keys.length > 0 && keys.every((key) => INDEXED_KEY.test(key)))
    return { kind: 'indexed', dict: toolArgs };
  return { kind: 'dict', dict: toolArgs };
}

// `{"args": [...]}` with an optional `kwargs` object and nothing else: what Python/TypeScript send for a
// call that is not a single dict argument. A dict argument that happens to look like this is read as (b),
// exactly as the SDKs' own apply rules read it.
function isCallShape(object: JsonObject, keys: string[]): boolean {
  if (!Array.isArray(object.args)) return false;
  return keys.every((key) => key === 'args' || (key === 'kwargs' && isPlainObject(object.kwargs)));
}

/** The single positional argument when it is a dict (its keys are merged into the view). */
function singlePositionalObject(shape: ArgsShape): JsonObject | undefined {
  if (shape.kind === 'call' && shape.positionals.length === 1) {
    const only = shape.positionals[0];
    return isPlainObject(only) ? only : undefined;
  }
  if (shape.kind === 'indexed') {
    const keys = Object.keys(shape.dict);
    if (keys.length === 1 && keys[0] === 'arg0' && isPlainObject(shape.dict.arg0)) return shape.dict.arg0;
  }
  return undefined;
}

/**
 * The flat object policy conditions see as `args`:
 * - (a) the dict itself;
 * - (b) `arg0`, `arg1`, … for the positionals plus the kwargs' keys (a kwarg wins over a same-named key);
 * - (c) as received;
 * - when there is a single positional (in (b) or (c)) and it is a dict, its keys are merged in too, so
 *   `args.amount` works however the SDK wrapped `pay({amount: 5})`;
 * - nothing → `{}`; a bare array → `arg0…`; a bare scalar → `{arg0: value}`.
 */
export function argsView(toolArgs: unknown): JsonObject {
  const shape = detectArgsShape(toolArgs);
  switch (shape.kind) {
    case 'empty':
      return {};
    case 'dict':
      return shape.dict;
    case 'scalar':
      return { arg0: shape.value };
    case 'list':
      return indexPositionals(shape.positionals);
    case 'indexed': {
      const merged = singlePositionalObject(shape);
      return merged ? { ...merged, ...shape.dict } : shape.dict;
    }
    case 'call':
      return { ...singlePositionalObject(shape), ...indexPositionals(shape.positionals), ...shape.kwargs };
  }
}

function indexPositionals(positionals: readonly unknown[]): JsonObject {
  const view: JsonObject = {};
  positionals.forEach((value, index) => {
    view[`arg${index}`] = value;
  });
  return view;
}

/**
 * Applies a MODIFY transform and returns new arguments in the shape they were received in (the input is
 * never mutated), so the SDK apply rules (docs/protocol.md §MODIFY apply rules) put them back:
 * - (b) → `{"args": […], "kwargs": {…}}` (the `args` array replaces the positionals, `kwargs` the keywords);
 * - (a) → the whole dict (replaces the single dict argument);
 * - (c), bare scalar → `arg0`… / the value (replaces the single positional).
 *
 * Order: `remove`, then `redact`, then `set` (an explicit value wins). `redact` and `remove` only touch
 * names that exist, everywhere the name lives (a kwarg and a same-named key of a dict positional are both
 * redacted). `set` overwrites existing names, else adds the name where new keyword arguments belong.
 * Removing a positional replaces it with `null`: deleting it would shift every later positional.
 */
export function applyArgsTransform(toolArgs: unknown, transform: ArgsTransform): unknown {
  const target = mutableArgs(detectArgsShape(cloneJson(toolArgs)));
  for (const name of transform.remove ?? []) {
    for (const slot of findSlots(target, name)) removeSlot(slot);
  }
  for (const name of transform.redact ?? []) {
    for (const slot of findSlots(target, name)) writeSlot(slot, REDACTED);
  }
  for (const [name, value] of Object.entries(transform.set ?? {})) setName(target, name, value);
  return target.rebuild();
}

/** A place an argument value lives in: a key of a dict or an index of a list. */
type Slot = { container: JsonObject; key: string } | { container: unknown[]; index: number };

interface MutableArgs {
  /** Dicts whose own keys are argument names, most authoritative first. */
  named: () => JsonObject[];
  positionals: unknown[] | undefined;
  /** Where a brand-new name goes (created on demand); undefined when the shape has no names. */
  newNamesContainer: () => JsonObject | undefined;
  rebuild: () => unknown;
}

function mutableArgs(shape: ArgsShape): MutableArgs {
  const spread = singlePositionalObject(shape);
  switch (shape.kind) {
    case 'empty': {
      let created: JsonObject | undefined;
      return {
        named: () => (created ? [created] : []),
        positionals: undefined,
        newNamesContainer: () => {
          created ??= {};
          return created;
        },
        rebuild: () => created ?? shape.original,
      };
    }
    case 'dict':
      return {
        named: () => [shape.dict],
        positionals: undefined,
        newNamesContainer: () => shape.dict,
        rebuild: () => shape.dict,
      };
    case 'indexed':
      return {
        named: () => (spread ? [shape.dict, spread] : [shape.dict]),
        positionals: undefined,
        newNamesContainer: () => spread ?? shape.dict,
        rebuild: () => shape.dict,
      };
    case 'list':
      return {
        named: () => [],
        positionals: shape.positionals,
        newNamesContainer: () => undefined,
        rebuild: () => shape.positionals,
      };
    case 'scalar': {
      const box = [shape.value];
      return { named: () => [], positionals: box, newNamesContainer: () => undefined, rebuild: () => box[0] };
    }
    case 'call': {
      let kwargs = shape.kwargs;
      return {
        named: () => [kwargs, spread].filter((dict): dict is JsonObject => dict !== undefined),
        positionals: shape.positionals,
        // A call made with one dict and no keywords takes new names inside that dict.
        newNamesContainer: () => {
          if (kwargs === undefined && spread) return spread;
          kwargs ??= {};
          return kwargs;
        },
        rebuild: () =>
          kwargs === undefined ? { args: shape.positionals } : { args: shape.positionals, kwargs },
      };
    }
  }
}

function topLevelSlots(target: MutableArgs, name: string): Slot[] {
  const slots: Slot[] = target
    .named()
    .filter((dict) => Object.hasOwn(dict, name))
    .map((dict) => ({ container: dict, key: name }));
  const indexed = INDEXED_KEY.exec(name);
  if (indexed && target.positionals) {
    const index = Number(indexed[1]);
    if (index < target.positionals.length) slots.push({ container: target.positionals, index });
  }
  return slots;
}

/** A literal top-level name wins; otherwise `a.b.c` walks nested dicts and lists from `a`. */
function findSlots(target: MutableArgs, name: string): Slot[] {
  const direct = topLevelSlots(target, name);
  if (direct.length > 0 || !name.includes('.')) return direct;
  const [head = '', ...rest] = name.split('.');
  return topLevelSlots(target, head).flatMap((slot) => {
    const nested = descend(slot, rest);
    return nested ? [nested] : [];
  });
}

function descend(start: Slot, segments: readonly string[]): Slot | undefined {
  let slot = start;
  for (const segment of segments) {
    const value = readSlot(slot);
    if (isPlainObject(value) && Object.hasOwn(value, segment)) {
      slot = { container: value, key: segment };
    } else if (Array.isArray(value) && /^\d+$/.test(segment) && Number(segment) < value.length) {
      slot = { container: value, index: Number(segment) };
    } else {
      return undefined;
    }
  }
  return slot;
}

function setName(target: MutableArgs, name: string, value: unknown): void {
  const existing = findSlots(target, name);
  if (existing.length > 0) {
    for (const slot of existing) writeSlot(slot, cloneJson(value));
    return;
  }
  // A new nested name extends the deepest dict that already exists on its path.
  const segments = name.split('.');
  for (let depth = segments.length - 1; depth > 0; depth--) {
    const parents = findSlots(target, segments.slice(0, depth).join('.')).map(readSlot).filter(isPlainObject);
    if (parents.length > 0) {
      for (const parent of parents) writePath(parent, segments.slice(depth), value);
      return;
    }
  }
  const container = target.newNamesContainer();
  if (container) writePath(container, segments, value);
}

function writePath(container: JsonObject, segments: readonly string[], value: unknown): void {
  const [head = '', ...rest] = segments;
  if (rest.length === 0) {
    container[head] = cloneJson(value);
    return;
  }
  const child: JsonObject = {};
  container[head] = child;
  writePath(child, rest, value);
}

function readSlot(slot: Slot): unknown {
  return 'index' in slot ? slot.container[slot.index] : slot.container[slot.key];
}

function writeSlot(slot: Slot, value: unknown): void {
  if ('index' in slot) slot.container[slot.index] = value;
  else slot.container[slot.key] = value;
}

function removeSlot(slot: Slot): void {
  if ('index' in slot) slot.container[slot.index] = null;
  else delete slot.container[slot.key];
}

/** Copies JSON data (plain objects and arrays); anything else is kept by reference. */
export function cloneJson<T>(value: T): T {
  if (Array.isArray(value)) return value.map(cloneJson) as T;
  if (isPlainObject(value)) {
    const copy: JsonObject = {};
    for (const [key, member] of Object.entries(value)) copy[key] = cloneJson(member);
    return copy as T;
  }
  return value;
}
