"""Fixtures of the Segment-compatible ingestion tests over real HTTP (test_ingest_*.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.api.conftest import WRITE_KEY


@pytest.fixture
async def api(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, auth=(WRITE_KEY, ""), timeout=30) as client:
        yield client
