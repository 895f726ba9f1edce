/**
 * An OpenAI function-calling loop (Chat Completions) whose tools are governed by Thoth.
 *
 *   THOTH_API_URL=… THOTH_API_KEY=… npx tsx --conditions=thoth-source sdk/typescript/examples/openai-function-calling.ts
 *
 * Without OPENAI_BASE_URL the client talks to a local stand-in of the API (support/fake-openai-api.ts).
 */
import { instrumentOpenAI, ThothPolicyViolation } from '@thoth/sdk';
import OpenAI from 'openai';
import type { ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { startFakeOpenAIApi } from './support/fake-openai-api.ts';

const tools = instrumentOpenAI(
  {
    search_docs: async ({ query }: { query: string }) => `Found 3 docs matching: ${query}`,
    submit_payment: async ({ invoice_id, amount }: { invoice_id: string; amount: number }) =>
      `Paid ${amount} on ${invoice_id}`,
  },
  { agentId: 'invoice-assistant-gpt', tenantId: 'acme-corp', approvedScope: ['search_docs'] },
);

/** The JSON arguments string is passed as is: the SDK parses it before asking Thoth. */
function runTool(name: string, jsonArguments: string): Promise<string> {
  switch (name) {
    case 'search_docs':
      return tools.search_docs(jsonArguments);
    case 'submit_payment':
      return tools.submit_payment(jsonArguments);
    default:
      return Promise.reject(new Error(`unknown tool ${name}`));
  }
}

const standIn = process.env.OPENAI_BASE_URL ? undefined : await startFakeOpenAIApi();
const client = new OpenAI({
  apiKey: process.env.OPENAI_API_KEY ?? 'not-needed-for-the-stand-in',
  ...(standIn ? { baseURL: `${standIn.url}/v1` } : {}),
});

const toolDefinitions: ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'search_docs',
      description: 'Search the document store',
      parameters: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] },
    },
  },
  {
    type: 'function',
    function: {
      name: 'submit_payment',
      description: 'Pay an invoice',
      parameters: {
        type: 'object',
        properties: { invoice_id: { type: 'string' }, amount: { type: 'number' } },
        required: ['invoice_id', 'amount'],
      },
    },
  },
];

const messages: ChatCompletionMessageParam[] = [
  { role: 'user', content: 'Find the quarterly report and pay INV-001.' },
];

try {
  for (;;) {
    const completion = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      tools: toolDefinitions,
      messages,
    });
    const message = completion.choices[0]?.message;
    if (!message) throw new Error('no choice in the completion');
    messages.push(message);
    if (!message.tool_calls?.length) {
      console.log(`GPT: ${message.content}`);
      break;
    }
    for (const call of message.tool_calls) {
      if (call.type !== 'function') continue;
      let content: string;
      try {
        content = await runTool(call.function.name, call.function.arguments);
        console.log(`tool ${call.function.name}: ${content}`);
      } catch (error) {
        if (!(error instanceof ThothPolicyViolation)) throw error;
        console.log(`tool ${call.function.name} blocked: ${error.reason} (violation ${error.violationId})`);
        content = `Blocked by Thoth: ${error.reason}`;
      }
      messages.push({ role: 'tool', tool_call_id: call.id, content });
    }
  }
} finally {
  await standIn?.close();
}
