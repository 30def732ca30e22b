"""The console in a real browser: headless Chromium (Debian's, through playwright) against the
API behind uvicorn, with real runs made by the real router and worker on Temporal and NATS.

Every page a test visits is screenshotted into ``.artifacts/console/<test>-<page>.png`` and
kept, so a reviewer can see what support sees.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright
from sqlalchemy import select
from temporalio.client import Client

from journeys.delivery.templates_catalog import seed_templates
from journeys.settings import Settings
from journeys.store.api_keys import Role, create_key
from journeys.store.models import JourneyRun
from tests.conftest import REPO, Store, stack_settings
from tests.support.api import serve
from tests.support.pipeline import Pipeline, running_pipeline
from tests.support.real_network import serve_http

ARTIFACTS = REPO / ".artifacts" / "console"
CHROMIUM = "/usr/bin/chromium"


async def new_key(store: Store, role: Role) -> str:
    """A key of ``role`` in the test's store, as an admin would make one."""
    async with store.sessions() as session:
        key = await create_key(session, name=f"{role} person", role=role, created_by="test")
        await session.commit()
    return key.secret


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    chromium = shutil.which("chromium") or shutil.which(CHROMIUM)
    if chromium is None:
        pytest.fail("chromium is not installed: run `make test` (it installs Debian's chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A page of a browser context of its own: no cookies from another test."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield await context.new_page()
    finally:
        await context.close()


@dataclass
class Shots:
    """Screenshots of one test: ``await shots.take(page, "customer")``."""

    test: str

    async def take(self, page: Page, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.test}-{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    return Shots(re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name).strip("-"))


@pytest.fixture
def console_settings(store: Store, fresh_nats_url: str, temporal_address: str) -> Settings:
    """The test's own nats-server, so the router's consumers see only this test's events."""
    return stack_settings(store, fresh_nats_url, temporal_address)


@pytest.fixture
async def pipeline(
    console_settings: Settings, temporal_dev: Client, store: Store
) -> AsyncIterator[Pipeline]:
    """Router and worker running the example journeys; runs still going are terminated after
    the test, so nothing of it is left waiting on the shared Temporal server."""
    await seed_templates(store.sessions, console_settings)
    async with running_pipeline(console_settings, temporal_dev, store.sessions) as running:
        yield running
    async with store.sessions() as session:
        active = await session.scalars(select(JourneyRun).where(JourneyRun.status == "active"))
        for run in active.all():
            handle = temporal_dev.get_workflow_handle(run.workflow_id, run_id=run.id)
            with suppress(Exception):  # already ended meanwhile
                await handle.terminate("console test over")


@pytest.fixture
async def console_url(console_settings: Settings) -> AsyncIterator[str]:
    """The API behind a real uvicorn; the console is at ``<url>/console``."""
    async with serve_http(console_settings) as url:
        yield url


@pytest.fixture
async def app_client(api_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of the app that sends no key: it logs in as a browser does."""
    async with serve(api_settings, role=None) as client:
        yield client
