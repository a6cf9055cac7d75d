"""The gateway's response shapes: pure functions from typed answers to OpenRouter's JSON."""
