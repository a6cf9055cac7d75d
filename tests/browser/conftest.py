"""The web console driven in headless Chromium (Debian's `chromium`, through
Playwright's Python API with that system browser: Playwright's own browser download is
never used). Runs against a real stack, like the integration tier; skips with the reason
when no browser is installed. Screenshots go to `.artifacts/browser/` (not committed)."""

import re
import shutil
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import account, sim, stack  # noqa: F401 (fixtures)
from tests.integration.harness import RunningStack, TestAccount

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts" / "browser"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MODEL = "meta-llama/llama-3.1-8b-instruct"


def pytest_collection_modifyitems(items):
    for item in items:
        if "/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.browser)


def chromium() -> str | None:
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


# The async API: the sync one keeps its own event loop running for as long as the
# browser is open, which breaks every asyncio test that comes after it in the session.
@pytest.fixture(scope="session")
async def browser():
    executable = chromium()
    if executable is None:
        pytest.skip("no Chromium: install Debian's `chromium` package (./dev test does)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


class Console:
    """One browser context (its own cookies) on the console of `stack`."""

    def __init__(self, context, page, running: RunningStack, name: str):
        self.context = context
        self.page = page
        self.stack = running
        self.name = name
        self.shots = 0

    async def go(self, path: str):
        return await self.page.goto(self.stack.url + path)

    async def sign_in(self, key: str) -> None:
        await self.go("/")
        assert self.page.url.endswith("/console/sign-in")
        await self.page.fill("#key", key)
        async with self.page.expect_navigation():
            await self.page.click("button[type=submit]")

    async def submit(self, selector: str) -> None:
        """Click a button that posts a form, and wait for the page it leads to."""
        async with self.page.expect_navigation():
            await self.page.click(selector)

    async def choose_account(self, account_id: str) -> None:
        """The admin key's account switcher (its select submits on change)."""
        async with self.page.expect_navigation():
            await self.page.select_option("select[name=account_id]", account_id)

    async def screenshot(self, step: str) -> Path:
        self.shots += 1
        path = artifact(f"{self.name}-{self.shots:02d}-{re.sub(r'[^a-z0-9]+', '-', step)}.png")
        await self.page.screenshot(path=str(path), full_page=True)
        return path

    async def text(self, selector: str = "main") -> str:
        return await self.page.inner_text(selector)


@pytest.fixture
async def console(browser, stack, request):  # noqa: F811
    """Opens fresh browser sessions (no cookies), named after the test."""
    contexts = []

    async def open_console(suffix: str = "") -> Console:
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = await context.new_page()
        page.set_default_timeout(20_000)
        return Console(context, page, stack, request.node.name + suffix)

    yield open_console
    for context in contexts:
        await context.close()


async def chat(caller: TestAccount, **body) -> httpx.Response:
    """A completion with the account's inference key, as an application makes it."""
    payload = {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}], **body}
    async with caller.http() as client:
        response = await client.post("/chat/completions", json=payload)
    assert response.status_code == 200, response.text
    return response
