"""veil: a self-hosted LLM routing gateway that puts the caller's data policy first."""

__version__ = "0.1.0"
