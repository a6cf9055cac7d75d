"""libs/ are shared by every service and import none of them.

A library that imports a service drags that service (and whatever it imports) into
every process that uses the library, and makes the services' boundaries a matter of
habit rather than structure. The launcher counts as a service here: it imports them.
"""

import ast
from pathlib import Path

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


def test_libs_import_no_service():
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
