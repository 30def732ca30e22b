"""The runs' tests run the shared ``router`` fixture (tests/support/fixtures.py) on the session's
Temporal dev server, with the API's settings, so the API and the worker see the same runs."""

from __future__ import annotations

import pytest
from temporalio.client import Client

from journeys.settings import Settings


@pytest.fixture
def temporal_client(temporal_dev: Client) -> Client:
    return temporal_dev


@pytest.fixture
def worker_settings(api_settings: Settings) -> Settings:
    return api_settings
