"""The secrets each process needs for the features it serves, checked before it starts.

Tracking links, console sessions and webhook signatures are only as strong as their keys. No
key ships with Journeys: an empty one, one shorter than :data:`MIN_SECRET_LENGTH`, or one of the
placeholders earlier versions shipped is refused wherever it would be used, and outside dev a
process that needs it refuses to start, naming the setting. In dev (`journeys dev`) the problem is
logged instead, so a partial local setup still runs; `journeys dev` generates real secrets anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from pydantic import SecretStr

from journeys.settings import Environment, Settings

MIN_SECRET_LENGTH = 16
# Shipped as defaults before there were none: known to everyone, so never a key.
RETIRED_PLACEHOLDERS = frozenset({"dev-only-tracking-secret", "dev-only-console-secret"})

log = logging.getLogger(__name__)


class InsecureSettings(ValueError):
    """A secret a feature in use needs is missing or unfit; the message names each setting."""


def env_name(setting: str) -> str:
    return f"JOURNEYS_{setting.upper()}"


def secret_problem(setting: str, value: SecretStr) -> str | None:
    """Why ``value`` cannot key ``setting``, or None when it can."""
    secret = value.get_secret_value()
    name = env_name(setting)
    if not secret:
        return f"{name} is not set"
    if secret in RETIRED_PLACEHOLDERS:
        return f"{name} is a published placeholder; generate a random one"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"{name} needs {MIN_SECRET_LENGTH}+ characters"
    return None


def usable_secret(settings: Settings, setting: str) -> bytes:
    """The secret's bytes, or :class:`InsecureSettings` naming the setting."""
    value: SecretStr = getattr(settings, setting)
    problem = secret_problem(setting, value)
    if problem is not None:
        raise InsecureSettings(problem)
    return value.get_secret_value().encode()


def api_needs(settings: Settings) -> list[str]:
    """The API serves open and click tracking and the console, on every deployment."""
    return ["tracking_secret", "console_secret"]


def worker_needs(settings: Settings, *, webhook_steps: bool) -> list[str]:
    """Tracked email needs the tracking secret; the webhook channel, and journeys with a webhook
    step, the webhook secret."""
    needs = []
    if settings.email_tracking:
        needs.append("tracking_secret")
    if webhook_steps or "webhook" in settings.channel_providers.values():
        needs.append("webhook_secret")
    return needs


def require_secrets(settings: Settings, process: str, needs: Iterable[str]) -> None:
    """Refuse to start ``process`` outside dev while a secret it needs is unfit."""
    problems = [p for s in needs if (p := secret_problem(s, getattr(settings, s))) is not None]
    if not problems:
        return
    if settings.env is Environment.DEV:
        for problem in problems:
            log.warning("%s: %s (env dev: the feature that needs it will refuse)", process, problem)
        return
    raise InsecureSettings(
        f"the {process} refuses to start (JOURNEYS_ENV={settings.env.value}): "
        + "; ".join(problems)
    )
