"""veil: a self-hosted LLM routing gateway that puts the caller's data policy first."""

# The version is written once, in pyproject.toml; everything else asks the installed
# package (veil.schemas.messages.veil_version).
