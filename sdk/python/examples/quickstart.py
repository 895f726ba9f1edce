"""Thoth quickstart: govern an agent's tools in one line.

export THOTH_API_URL=http://127.0.0.1:8080
export THOTH_API_KEY=thoth_live_...        # see sdk/python/README.md
python sdk/python/examples/quickstart.py
"""

import os

from thoth import ThothPolicyViolation, instrument


def search_docs(query):
    return f"Found 3 docs matching: {query}"


def submit_payment(invoice_id, amount):
    return f"Paid {amount} for {invoice_id}"


class InvoiceAgent:
    class Tool:
        def __init__(self, name, fn):
            self.name = name
            self.fn = fn

        def run(self, *args, **kwargs):
            return self.fn(*args, **kwargs)

    tools = [Tool("search_docs", search_docs), Tool("submit_payment", submit_payment)]


agent = InvoiceAgent()
instrument(
    agent,
    agent_id="invoice-processor-v2",
    approved_scope=["search_docs"],
    tenant_id="acme-corp",
    api_url=os.environ["THOTH_API_URL"],
    enforcement="progressive",
)

# In scope: runs normally.
print(agent.tools[0].run("quarterly report"))

# Out of scope: blocked before it runs.
try:
    agent.tools[1].run("INV-001", 1500.00)
except ThothPolicyViolation as e:
    print(f"Blocked: {e.reason}")
    print(f"Violation ID: {e.violation_id}")
