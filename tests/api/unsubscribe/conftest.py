"""The unsubscribe routes against real servers: the API, a router on a NATS server of the test's
own, a worker on the Temporal dev server, email through aiosmtpd."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from journeys.settings import Settings
from tests.conftest import Store, stack_settings
from tests.support.journeys.mail import MAIL_TEMPLATES
from tests.support.mailbox import Inbox, smtp_server, smtp_settings

PUBLIC = "https://journeys.example.com"


@pytest.fixture
def mail() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def unsubscribe_settings(
    store: Store,
    tmp_path: Path,
    fresh_nats_url: str,
    temporal_address: str,
    mail: tuple[Inbox, int],
) -> Settings:
    folder = tmp_path / "mail-templates"
    folder.mkdir()
    for name, source in MAIL_TEMPLATES.items():
        (folder / name).write_text(source)
    settings = stack_settings(store, fresh_nats_url, temporal_address)
    return settings.model_copy(
        update={
            **smtp_settings(mail[1]),
            "channel_providers": {**settings.channel_providers, "email": "smtp"},
            "templates_dir": folder,
            "subscription_groups": ["newsletter", "<b>offers</b>"],
        }
    )
