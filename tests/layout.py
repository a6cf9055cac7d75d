"""The package laid out as installed, for the tools that read source files rather than
import it (mypy, import-linter, the import-cycle test): veil/gateway -> services/gateway
and so on, as pyproject.toml's package-dir maps them, one link per module. They cannot
follow the editable install's import hook, which maps those folders at import time.

    python -m tests.layout .typecheck
"""

import shutil
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def lay_out(target: Path) -> Path:
    """Build the layout under `target` (replacing what is there); returns it."""
    shutil.rmtree(target, ignore_errors=True)
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for package, source in setup["package-dir"].items():
        folder = target.joinpath(*package.split("."))
        folder.mkdir(parents=True, exist_ok=True)
        for path in (ROOT / source).glob("*.py"):
            (folder / path.name).symlink_to(path.resolve())
    return target


if __name__ == "__main__":
    lay_out(Path(sys.argv[1]))
