import anthropic

from thoth import instrument_anthropic

client = anthropic.Anthropic()

tool_fns = {
    "search_docs": lambda input: f"Results for: {input['query']}",
}
governed_fns = instrument_anthropic(tool_fns, agent_id="invoice-processor-v2",
                                    approved_scope=["search_docs"], tenant_id="acme-corp")

tools = [
    {
        "name": "search_docs",
        "description": "Search the internal documentation",
        "input_schema": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    }
]
messages = [{"role": "user", "content": "Find the quarterly report"}]

while True:
    response = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=1024,
        tools=tools,
        messages=messages,
    )
    messages.append({"role": "assistant", "content": response.content})
    if response.stop_reason == "end_turn":
        break
    tool_results = []
    for block in response.content:
        if block.type == "tool_use":
            fn = governed_fns[block.name]
            result = fn(block.input)  # governance runs here
            tool_results.append({"type": "tool_result", "tool_use_id": block.id, "content": str(result)})
    messages.append({"role": "user", "content": tool_results})

print("".join(block.text for block in response.content if block.type == "text"))
