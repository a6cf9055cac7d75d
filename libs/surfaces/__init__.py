"""The API surfaces veil serves besides OpenAI's chat completions, as conversions to and
from the one canonical form its pipeline routes (an OpenAI chat request, its completion
and chunks): Anthropic's Messages API and OpenAI's Responses API. Pure functions over
JSON, shared by the gateway (requests in) and the dispatcher (answers out)."""
