/**
 * An Anthropic tool_use loop whose tools are governed by Thoth.
 *
 *   THOTH_API_URL=… THOTH_API_KEY=… npx tsx --conditions=thoth-source sdk/typescript/examples/anthropic-tool-use.ts
 *
 * Without ANTHROPIC_BASE_URL the client talks to a local stand-in of the Messages API
 * (support/fake-anthropic-api.ts), so the example needs no Anthropic account.
 */
import Anthropic from '@anthropic-ai/sdk';
import { instrumentAnthropic, ThothPolicyViolation } from '@thoth/sdk';
import { startFakeAnthropicApi } from './support/fake-anthropic-api.ts';

const tools = instrumentAnthropic(
  {
    search_docs: async ({ query }: { query: string }) => `Found 3 docs matching: ${query}`,
    submit_payment: async ({ invoice_id, amount }: { invoice_id: string; amount: number }) =>
      `Paid ${amount} on ${invoice_id}`,
  },
  { agentId: 'invoice-assistant-claude', tenantId: 'acme-corp', approvedScope: ['search_docs'] },
);

/** The model's `input` is untyped JSON; each tool names the shape it expects. */
function runTool(name: string, input: unknown): Promise<string> {
  switch (name) {
    case 'search_docs':
      return tools.search_docs(input as { query: string });
    case 'submit_payment':
      return tools.submit_payment(input as { invoice_id: string; amount: number });
    default:
      return Promise.reject(new Error(`unknown tool ${name}`));
  }
}

const standIn = process.env.ANTHROPIC_BASE_URL ? undefined : await startFakeAnthropicApi();
const client = new Anthropic({
  apiKey: process.env.ANTHROPIC_API_KEY ?? 'not-needed-for-the-stand-in',
  ...(standIn ? { baseURL: standIn.url } : {}),
});

const toolDefinitions: Anthropic.Tool[] = [
  {
    name: 'search_docs',
    description: 'Search the document store',
    input_schema: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] },
  },
  {
    name: 'submit_payment',
    description: 'Pay an invoice',
    input_schema: {
      type: 'object',
      properties: { invoice_id: { type: 'string' }, amount: { type: 'number' } },
      required: ['invoice_id', 'amount'],
    },
  },
];

const messages: Anthropic.MessageParam[] = [
  { role: 'user', content: 'Find the quarterly report and pay INV-001.' },
];

try {
  for (;;) {
    const response = await client.messages.create({
      model: 'claude-sonnet-4-6',
      max_tokens: 1024,
      tools: toolDefinitions,
      messages,
    });
    messages.push({ role: 'assistant', content: response.content });
    if (response.stop_reason !== 'tool_use') {
      for (const block of response.content) if (block.type === 'text') console.log(`Claude: ${block.text}`);
      break;
    }
    const results: Anthropic.ToolResultBlockParam[] = [];
    for (const block of response.content) {
      if (block.type !== 'tool_use') continue;
      try {
        const output = await runTool(block.name, block.input);
        console.log(`tool ${block.name}: ${output}`);
        results.push({ type: 'tool_result', tool_use_id: block.id, content: output });
      } catch (error) {
        // A governance refusal goes back to the model as a tool error, so it can explain or choose again.
        if (!(error instanceof ThothPolicyViolation)) throw error;
        console.log(`tool ${block.name} blocked: ${error.reason} (violation ${error.violationId})`);
        results.push({
          type: 'tool_result',
          tool_use_id: block.id,
          is_error: true,
          content: `Blocked by Thoth: ${error.reason}`,
        });
      }
    }
    messages.push({ role: 'user', content: results });
  }
} finally {
  await standIn?.close();
}
