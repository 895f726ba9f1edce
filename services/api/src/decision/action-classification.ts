/** What kind of action a tool performs, guessed from its name (SOC filters and reports group by it). */
export type ActionClassification = 'read' | 'write' | 'delete' | 'execute' | 'network' | 'unknown';

// Most dangerous first: `delete_search_index` is a delete, `run_query` an execution.
const VERBS_BY_CLASS: readonly [ActionClassification, ReadonlySet<string>][] = [
  ['delete', new Set(['delete', 'remove', 'drop', 'destroy'])],
  ['execute', new Set(['exec', 'execute', 'run', 'shell', 'command', 'eval'])],
  [
    'write',
    new Set([
      'create',
      'update',
      'write',
      'submit',
      'send',
      'post',
      'put',
      'set',
      'insert',
      'pay',
      'transfer',
    ]),
  ],
  [
    'network',
    new Set(['http', 'https', 'request', 'curl', 'wget', 'webhook', 'download', 'upload', 'browse', 'url']),
  ],
  ['read', new Set(['get', 'search', 'list', 'read', 'fetch', 'query', 'lookup', 'find'])],
];

/**
 * Splits the tool name into words (`send_email`, `sendEmail`, `mail.send`, `read:data`, `HTTPGet`) and
 * returns the most dangerous class any word names. Whole words only: `settings` is not `set`,
 * `postgres_query` is not `post`.
 */
export function classifyAction(toolName: string): ActionClassification {
  let classification = classified.get(toolName);
  if (classification === undefined) {
    // A tenant has a handful of tools; the bound only keeps hostile or generated names from growing it.
    if (classified.size >= MAX_REMEMBERED) classified.clear();
    classification = classifyWords(toolName);
    classified.set(toolName, classification);
  }
  return classification;
}

/** Every enforce call classifies its tool: remember the answers instead of re-splitting the name each time. */
const classified = new Map<string, ActionClassification>();
const MAX_REMEMBERED = 10_000;

function classifyWords(toolName: string): ActionClassification {
  const words = toolName
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/);
  for (const [classification, verbs] of VERBS_BY_CLASS) {
    if (words.some((word) => verbs.has(word))) return classification;
  }
  return 'unknown';
}
