"""The agent's side effects: the LLM call and the tool calls, as Temporal activities."""
