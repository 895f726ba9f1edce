import { isObject, type JsonObject } from './json-rpc.ts';
import type { ListFilter } from './proxy-options.ts';

/**
 * What a `tools/list` result shows the model, per `--list-filter`. Pure. Hiding is a convenience for the
 * model, not the control: a hidden tool that is called anyway is still decided by Thoth.
 */

export const OUT_OF_SCOPE_NOTE =
  "[Thoth: outside this agent's approved scope; calls are blocked or need approval]";

/** The filtered result, or undefined when nothing changes (the original bytes then pass through). */
export function filterToolList(
  result: unknown,
  scope: readonly string[],
  mode: ListFilter,
): JsonObject | undefined {
  // An empty scope restricts nothing (the server's rule), so every tool stays as it is.
  if (mode === 'none' || scope.length === 0 || !isObject(result) || !Array.isArray(result.tools))
    return undefined;
  const inScope = (tool: unknown) =>
    isObject(tool) && typeof tool.name === 'string' && scope.includes(tool.name);
  if (result.tools.every(inScope)) return undefined;
  if (mode === 'hide') return { ...result, tools: result.tools.filter(inScope) };
  return {
    ...result,
    tools: result.tools.map((tool: unknown) => {
      if (inScope(tool) || !isObject(tool)) return tool;
      const description =
        typeof tool.description === 'string' ? `${OUT_OF_SCOPE_NOTE} ${tool.description}` : OUT_OF_SCOPE_NOTE;
      return { ...tool, description };
    }),
  };
}

/** Names of the listed tools that declare an `outputSchema` (their results are validated by clients). */
export function toolsWithOutputSchema(result: unknown): string[] {
  if (!isObject(result) || !Array.isArray(result.tools)) return [];
  return result.tools.flatMap((tool: unknown) =>
    isObject(tool) && typeof tool.name === 'string' && isObject(tool.outputSchema) ? [tool.name] : [],
  );
}
