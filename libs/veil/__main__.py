# `python -m veil` runs the launcher. This module is an entry point, never imported by
# a library, so it is the one file under libs/ allowed to reach the launcher
# (tests/unit/test_layering.py).
from veil.launcher.cli import main

main()
