"""Shared test configuration."""

import sys
from pathlib import Path

# The repo's tests import helpers from tests/ (e.g. tests.integration.harness).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
