"""libs/ are shared by every service and import none of them; no module imports itself
back through others.

A library that imports a service drags that service (and whatever it imports) into
every process that uses the library, and makes the services' boundaries a matter of
habit rather than structure. The launcher counts as a service here: it imports them.

The static imports are import-linter's to check (pyproject.toml's contracts, run by
`./dev test`); what it cannot see is checked here: imports made at run time by name
(`importlib.import_module`), that the contracts name every library module, and cycles.
"""

import ast
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.layout import lay_out

ROOT = Path(__file__).resolve().parents[2]
LIBS = ROOT / "libs"
# Each folder under services/ is importable as veil.<folder> (pyproject's package-dir).
SERVICES = sorted(
    path.name for path in (ROOT / "services").iterdir() if (path / "__init__.py").exists()
)
# `python -m veil` must start the launcher; the module is an entry point that nothing
# imports, so it is the one file under libs/ allowed to reach it.
ENTRY_POINTS = {LIBS / "veil" / "__main__.py": {"launcher"}}


def imported_modules(source: str) -> list[str]:
    """Every module a file imports, at any depth (imports inside functions count)."""
    modules = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.append(node.module)
            # `from veil import gateway` imports the service as well
            modules.extend(f"{node.module}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant | ast.JoinedStr)
        ):
            modules.append(ast.unparse(node.args[0]).strip("f'\""))
    return modules


def service_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) >= 2 and parts[0] == "veil" and parts[1].split("{")[0] in SERVICES:
        return parts[1]
    if len(parts) >= 2 and parts[0] == "veil" and parts[1].startswith("{"):
        return parts[1]  # a module name computed at run time: any service
    return None


def test_the_services_are_found():
    assert {"gateway", "policy", "dispatcher", "metrics", "categorizer", "launcher"} <= set(
        SERVICES
    )


def test_libs_import_no_service_even_by_name_at_run_time():
    offences = []
    for path in sorted(LIBS.rglob("*.py")):
        allowed = ENTRY_POINTS.get(path, set())
        for module in imported_modules(path.read_text()):
            service = service_of(module)
            if service is not None and service not in allowed:
                offences.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offences == []


def test_the_check_sees_each_form_of_import():
    source = """
import veil.gateway.config
from veil.policy.eligibility import eligible_endpoints
from veil import dispatcher
def later():
    from veil.metrics import store
    importlib.import_module(f"veil.{service}.app")
from veil.schemas import subjects
"""
    found = {service_of(module) for module in imported_modules(source)} - {None}
    assert found == {"gateway", "policy", "dispatcher", "metrics", "{service}"}


def test_the_import_contracts_name_every_library_module():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    [libraries] = [c for c in contracts["contracts"] if c["type"] == "forbidden"]
    named = set(libraries["source_modules"])
    modules = {f"veil.{p.stem}" for p in (LIBS / "veil").glob("*.py") if not p.stem.startswith("_")}
    packages = {f"veil.{p.name}" for p in LIBS.iterdir() if p.name != "veil" and p.is_dir()}
    assert (
        modules | {p for p in packages if (LIBS / p.split(".")[1] / "__init__.py").exists()}
        == named
    )
    assert set(libraries["forbidden_modules"]) == {f"veil.{s}" for s in SERVICES}


# Run in a child process: this one imports veil through the editable install's hook,
# which the import graph cannot read; the child imports it from the laid-out copy.
CYCLES = """
import json, sys
import grimp

graph = grimp.build_graph("veil")
index, low, stack, on_stack, cycles = {}, {}, [], set(), []

def visit(module):  # Tarjan's strongly connected components
    index[module] = low[module] = len(index)
    stack.append(module)
    on_stack.add(module)
    for imported in graph.find_modules_directly_imported_by(module):
        if imported not in index:
            visit(imported)
            low[module] = min(low[module], low[imported])
        elif imported in on_stack:
            low[module] = min(low[module], index[imported])
    if low[module] == index[module]:
        component = []
        while True:
            member = stack.pop()
            on_stack.discard(member)
            component.append(member)
            if member == module:
                break
        if len(component) > 1:
            cycles.append(sorted(component))

sys.setrecursionlimit(10000)
for module in sorted(graph.modules):
    if module not in index:
        visit(module)
print(json.dumps({"modules": len(graph.modules), "cycles": cycles}))
"""


def test_no_module_imports_itself_back(tmp_path):
    layout = lay_out(tmp_path / "layout")
    found = subprocess.run(
        [sys.executable, "-c", CYCLES],
        env={**os.environ, "PYTHONPATH": str(layout)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    graph = json.loads(found.stdout)
    assert graph["modules"] > 100  # the whole package was read
    assert graph["cycles"] == []
