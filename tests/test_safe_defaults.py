"""Safe by default: unset means production, and production refuses to start without the secrets
the features in use need, naming each setting. Only `journeys dev` says dev."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from journeys.secret_checks import InsecureSettings, require_secrets
from journeys.settings import Environment, Settings
from journeys.store.base import utcnow
from journeys.store.models import JourneyDefinition
from tests.conftest import Store, make_settings
from tests.support.helpers import start_process
from workers.dev import _child_env, dev_settings


def test_unset_means_production_with_no_secret() -> None:
    settings = Settings(_env_file=None)
    assert settings.env is Environment.PRODUCTION
    for name in ("tracking_secret", "console_secret", "webhook_secret"):
        assert getattr(settings, name).get_secret_value() == ""
    with pytest.raises(ValueError, match="env"):
        Settings(_env_file=None, env="prod")


def test_production_refuses_unset_short_and_placeholder_secrets() -> None:
    settings = Settings(
        _env_file=None,
        tracking_secret=SecretStr("dev-only-tracking-secret"),
        console_secret=SecretStr("short"),
    )
    with pytest.raises(InsecureSettings) as refused:
        require_secrets(settings, "API", ["tracking_secret", "console_secret", "webhook_secret"])
    message = str(refused.value)
    assert "JOURNEYS_TRACKING_SECRET is a published placeholder" in message
    assert "JOURNEYS_CONSOLE_SECRET needs 16+ characters" in message
    assert "JOURNEYS_WEBHOOK_SECRET is not set" in message
    # In dev the same problems are logged, and the features refuse at use instead.
    require_secrets(settings.model_copy(update={"env": Environment.DEV}), "API", ["console_secret"])


def run_until_exit(command: str, settings: Settings, log: Path, **variables: str) -> str:
    process = start_process(command, settings, log, **variables)
    assert process.wait(60) != 0
    return log.read_text()


def test_the_api_refuses_to_start_without_its_secrets(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, env="production")
    out = run_until_exit(
        "api",
        settings,
        tmp_path / "api.log",
        JOURNEYS_TRACKING_SECRET="",
        JOURNEYS_CONSOLE_SECRET="dev-only-console-secret",
        JOURNEYS_API_PORT="1",
    )
    assert "the API refuses to start (JOURNEYS_ENV=production)" in out
    assert "JOURNEYS_TRACKING_SECRET is not set" in out
    assert "JOURNEYS_CONSOLE_SECRET is a published placeholder" in out


def test_the_api_refuses_to_start_when_env_is_unset(tmp_path: Path) -> None:
    """No JOURNEYS_ENV at all (the image's state before it set one) is production."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEYS_")}
    env |= {"JOURNEYS_DATA_DIR": str(tmp_path), "JOURNEYS_API_PORT": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "workers.cli", "api"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "the API refuses to start (JOURNEYS_ENV=production)" in done.stderr
    assert "JOURNEYS_CONSOLE_SECRET is not set" in done.stderr


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_the_worker_refuses_the_webhook_channel_without_a_secret(
    store: Store, tmp_path: Path
) -> None:
    settings = store.settings.model_copy(update={"env": Environment.PRODUCTION})
    out = run_until_exit(
        "worker",
        settings,
        tmp_path / "worker.log",
        JOURNEYS_WEBHOOK_SECRET="",
        JOURNEYS_CHANNEL_PROVIDERS='{"hook": "webhook"}',
        JOURNEYS_TEMPORAL_ADDRESS="127.0.0.1:1",
    )
    assert "the worker refuses to start (JOURNEYS_ENV=production)" in out
    assert "JOURNEYS_WEBHOOK_SECRET is not set" in out


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_the_worker_refuses_a_published_webhook_step_without_a_secret(
    store: Store, tmp_path: Path
) -> None:
    now = utcnow()
    async with store.sessions.begin() as session:
        session.add(
            JourneyDefinition(
                key="notify",
                version=1,
                kind="definition",
                workflow_type="DefinitionJourney",
                trigger_event="Signed Up",
                document={"steps": [{"id": "call", "type": "webhook", "url": "https://x.io"}]},
                published_at=now,
            )
        )
    settings = store.settings.model_copy(update={"env": Environment.PRODUCTION})
    out = run_until_exit(
        "worker",
        settings,
        tmp_path / "worker.log",
        JOURNEYS_WEBHOOK_SECRET="",
        JOURNEYS_TEMPORAL_ADDRESS="127.0.0.1:1",
    )
    assert "JOURNEYS_WEBHOOK_SECRET is not set" in out


def test_journeys_dev_sets_dev_and_generates_secrets_it_keeps(tmp_path: Path) -> None:
    base = Settings(_env_file=None, data_dir=tmp_path, console_secret="mine-of-16-characters")
    first = dev_settings(base)
    assert first.env is Environment.DEV
    assert first.console_secret.get_secret_value() == "mine-of-16-characters"
    tracking = first.tracking_secret.get_secret_value()
    assert len(tracking) >= 32
    assert dev_settings(base).tracking_secret.get_secret_value() == tracking
    kept = tmp_path / "dev-secrets.json"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    require_secrets(
        first.model_copy(update={"env": Environment.PRODUCTION}), "API", ["tracking_secret"]
    )


def test_every_process_journeys_dev_starts_inherits_dev_and_its_secrets(tmp_path: Path) -> None:
    settings = dev_settings(Settings(_env_file=None, data_dir=tmp_path))
    env = _child_env(settings)
    assert env["JOURNEYS_ENV"] == "dev"
    for name in ("tracking_secret", "console_secret", "webhook_secret"):
        assert env[f"JOURNEYS_{name.upper()}"] == getattr(settings, name).get_secret_value()
