/**
 * Quickstart: govern an agent's tools in one line.
 *
 *   THOTH_API_URL=http://127.0.0.1:8080 THOTH_API_KEY=thoth_live_… npx tsx --conditions=thoth-source sdk/typescript/examples/quickstart.ts
 */
import { instrument, ThothPolicyViolation } from '@thoth/sdk';

class InvoiceAgent {
  // `as const` keeps the tuple type, so `agent.tools[0]` is known to exist.
  readonly tools = [
    { name: 'search_docs', run: async (query: string) => `Found 3 docs matching: ${query}` },
    {
      name: 'submit_payment',
      run: async (invoiceId: string, amount: number) => `Paid ${amount} on ${invoiceId}`,
    },
  ] as const;
}

const agent = instrument(new InvoiceAgent(), {
  agentId: 'invoice-processor-v2',
  approvedScope: ['search_docs'],
  tenantId: 'acme-corp',
  apiUrl: process.env.THOTH_API_URL,
  enforcement: 'progressive',
});

console.log(await agent.tools[0].run('quarterly report'));

try {
  await agent.tools[1].run('INV-001', 1500);
} catch (error) {
  if (!(error instanceof ThothPolicyViolation)) throw error;
  console.log(`Blocked: ${error.reason}`);
  console.log(`Violation ID: ${error.violationId}`);
}
