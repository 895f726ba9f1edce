import { resolveConfig, ThothConfigError, type ThothOptions } from './options.ts';
import { ToolGovernor } from './tool-governor.ts';

/** Any function, as a constraint (parameters are contravariant, so `never[]` accepts every signature). */
type AnyFunction = (...args: never[]) => unknown;

/** A governed function: same parameters, always async (it waits for the enforcer). */
export type Governed<F> = F extends (...args: infer P) => infer R
  ? (...args: P) => Promise<Awaited<R>>
  : never;

export type GovernedTool<T> = T extends AnyFunction
  ? Governed<T>
  : T extends { run: AnyFunction }
    ? Omit<T, 'run'> & { run: Governed<T['run']> }
    : T;

export type GovernedTools<T> = { [K in keyof T]: GovernedTool<T[K]> };

/** The agent `instrument` returns: the same object, its tools' `run` now governed (and async). */
export type Instrumented<A extends { tools: unknown }> = Omit<A, 'tools'> & {
  tools: GovernedTools<A['tools']>;
};

export interface ToolObject {
  name?: string;
  run: AnyFunction;
}

const GOVERNED = Symbol.for('thoth.governed');

type UnknownFunction = (...args: unknown[]) => unknown;

function isToolObject(value: unknown): value is ToolObject {
  return (
    typeof value === 'object' && value !== null && typeof (value as { run?: unknown }).run === 'function'
  );
}

function markGoverned<F extends object>(fn: F): F {
  Object.defineProperty(fn, GOVERNED, { value: true });
  return fn;
}

function isGoverned(fn: unknown): boolean {
  return typeof fn === 'function' && (fn as unknown as Record<symbol, unknown>)[GOVERNED] === true;
}

/**
 * Governs every tool of `agent.tools` in place and returns the same agent. Tools are objects with a `run`
 * method (named by `name`, else their key) or plain functions (named by their key, else `fn.name`);
 * `tools` may be an array or an object. All tools share one session. Instrumenting twice is harmless.
 * Throws ThothConfigError now — not at the first tool call — when the URL, key or a tool name is missing.
 */
export function instrument<A extends { tools: unknown }>(agent: A, options: ThothOptions): Instrumented<A> {
  const governor = new ToolGovernor(resolveConfig(options));
  const tools = agent.tools as Record<string | number, unknown>;
  if (typeof tools !== 'object' || tools === null)
    throw new ThothConfigError('instrument(agent): agent.tools must be an array or an object of tools');
  const keyed = Array.isArray(tools);
  for (const [key, tool] of Object.entries(tools)) {
    if (isToolObject(tool)) {
      if (isGoverned(tool.run)) continue;
      const name = tool.name || (keyed ? undefined : key);
      if (!name) throw new ThothConfigError(`instrument(agent): the tool at index ${key} has no name`);
      tool.run = markGoverned(governor.govern(name, tool.run as UnknownFunction, tool));
    } else if (typeof tool === 'function') {
      if (isGoverned(tool)) continue;
      const name = (keyed ? undefined : key) || tool.name;
      if (!name)
        throw new ThothConfigError(`instrument(agent): the function tool at index ${key} has no name`);
      tools[key] = markGoverned(governor.govern(name, tool as UnknownFunction, agent));
    }
  }
  return agent as unknown as Instrumented<A>;
}

/** Governs one function; its calls form their own session unless `options.sessionId` is shared. */
export function wrapTool<F extends AnyFunction>(name: string, fn: F, options: ThothOptions): Governed<F> {
  if (!name) throw new ThothConfigError('wrapTool: a tool name is required');
  const governor = new ToolGovernor(resolveConfig(options));
  return markGoverned(governor.govern(name, fn as unknown as UnknownFunction)) as unknown as Governed<F>;
}

/** Governed tool functions for an Anthropic tool_use loop: call `tools[block.name](block.input)`. */
export function instrumentAnthropic<T extends Record<string, AnyFunction>>(
  toolFns: T,
  options: ThothOptions,
): GovernedTools<T> {
  const governor = new ToolGovernor(resolveConfig({ modelProvider: 'anthropic', ...options }));
  const governed: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(toolFns))
    governed[name] = markGoverned(governor.govern(name, fn as unknown as UnknownFunction));
  return governed as GovernedTools<T>;
}

/** A governed OpenAI tool function also accepts `tool_call.function.arguments` as the JSON string. */
export type GovernedOpenAITools<T> = {
  [K in keyof T]: T[K] extends (input: infer I) => infer R
    ? (input: I | string) => Promise<Awaited<R>>
    : never;
};

/**
 * Governed tool functions for an OpenAI function-calling loop: call
 * `tools[call.function.name](call.function.arguments)`. The arguments are parsed before governance, so
 * policies see the object.
 */
export function instrumentOpenAI<T extends Record<string, (input: never) => unknown>>(
  toolFns: T,
  options: ThothOptions,
): GovernedOpenAITools<T> {
  const governor = new ToolGovernor(resolveConfig({ modelProvider: 'openai', ...options }));
  const governed: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(toolFns)) {
    const call = governor.govern(name, fn as unknown as UnknownFunction);
    governed[name] = markGoverned((input: unknown) =>
      call(typeof input === 'string' ? parseArguments(input) : input),
    );
  }
  return governed as GovernedOpenAITools<T>;
}

function parseArguments(text: string): unknown {
  return text.trim() === '' ? {} : JSON.parse(text);
}
