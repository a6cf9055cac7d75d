"""The contracts between veil's services: one pydantic model per message, and the subjects."""
