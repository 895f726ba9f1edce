from openai import OpenAI

from thoth import instrument_openai

client = OpenAI()

tool_fns = {
    "search_docs": lambda input: f"Results for: {input['query']}",
}
governed_fns = instrument_openai(tool_fns, agent_id="invoice-processor-v2",
                                 approved_scope=["search_docs"], tenant_id="acme-corp")

tools = [
    {
        "type": "function",
        "function": {
            "name": "search_docs",
            "description": "Search the internal documentation",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}},
                "required": ["query"],
            },
        },
    }
]
messages = [{"role": "user", "content": "Find the quarterly report"}]

while True:
    response = client.chat.completions.create(model="gpt-4o", tools=tools, messages=messages)
    message = response.choices[0].message
    messages.append(message)
    if response.choices[0].finish_reason != "tool_calls":
        break
    for tool_call in message.tool_calls:
        fn = governed_fns[tool_call.function.name]
        result = fn(tool_call.function.arguments)  # governance runs here
        messages.append({"role": "tool", "tool_call_id": tool_call.id, "content": str(result)})

print(message.content)
