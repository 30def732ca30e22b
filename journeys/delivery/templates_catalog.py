"""The template catalog: what the send path renders from, and seeding it from the shipped files.

``TemplateCatalog.render`` finds a template's latest version with one indexed query and renders
it from a cache of compiled versions. Versions never change once written, so a cache entry keyed
by (name, channel, version) never goes stale: a new version simply has a new key.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from cachetools import LRUCache
from sqlalchemy.exc import IntegrityError

from journeys.delivery.rendering import (
    RenderedTemplate,
    TemplateError,
    compile_part,
    describe,
    error_line,
    named_context,
    render_part,
)
from journeys.delivery.template_checks import FIELDS, validate
from journeys.settings import Settings
from journeys.store import templates as store
from journeys.store.db import Sessions
from journeys.store.models import TemplateVersion

log = logging.getLogger(__name__)

# Template names appear in URLs and journey code; channels are the keys of channel_providers.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,199}$"
CHANNEL_PATTERN = r"^[a-z][a-z0-9_-]{0,49}$"


@dataclass(frozen=True)
class _Compiled:
    name: str
    channel: str
    version: int
    parts: dict[str, jinja2.Template]
    error: TemplateError | None = None

    def render(self, context: dict[str, Any]) -> RenderedTemplate:
        if self.error is not None:
            raise self.error
        named = named_context(context)
        rendered: dict[str, str] = {}
        for part, template in self.parts.items():
            try:
                rendered[part] = render_part(part, template, named)
            except Exception as err:
                raise TemplateError(
                    _where(self.name, self.channel, self.version, part, err)
                ) from err
        return RenderedTemplate(
            template=self.name,
            subject=rendered.get("subject"),
            text=rendered.get("text"),
            html=rendered.get("html"),
            channel=self.channel,
            version=self.version,
        )


def _where(name: str, channel: str, version: int, part: str, err: Exception) -> str:
    line = error_line(err)
    at = f" line {line}" if line else ""
    return f"template {name!r} v{version} ({channel}) {part}{at}: {describe(err)}"


def compile_version(row: TemplateVersion) -> _Compiled:
    """Compile a stored version's parts; a syntax error is kept, to be raised by ``render``."""
    parts: dict[str, jinja2.Template] = {}
    for part in FIELDS:
        source = getattr(row, part)
        if source is None:
            continue
        try:
            parts[part] = compile_part(part, source)
        except jinja2.TemplateSyntaxError as err:
            error = TemplateError(_where(row.name, row.channel, row.version, part, err))
            return _Compiled(row.name, row.channel, row.version, {}, error)
    return _Compiled(row.name, row.channel, row.version, parts)


def render_version(row: TemplateVersion, context: dict[str, Any]) -> RenderedTemplate:
    """Render one stored version (a preview), without the catalog's cache."""
    return compile_version(row).render(context)


class TemplateCatalog:
    """Renders stored templates for the send path.

    ``render`` costs one indexed query (the latest version number) plus, the first time a
    version is seen, one to load and compile it; the ``cache_size`` most recently used compiled
    versions are kept.
    """

    def __init__(self, sessions: Sessions, *, cache_size: int = 256) -> None:
        self.sessions = sessions
        self.cache_size = cache_size
        self._cache: LRUCache[tuple[str, str, int], _Compiled] = LRUCache(maxsize=cache_size)

    async def render(
        self, name: str, channel: str, context: dict[str, Any], *, version: int | None = None
    ) -> RenderedTemplate:
        """Render the latest version of template ``name`` for ``channel`` (or ``version``).

        Raises :class:`TemplateError` naming the template, version, part and line: no such
        template, a syntax error, an undefined variable, an unsafe expression.
        """
        compiled = await self._compiled(name, channel, version)
        return compiled.render(context)

    async def _compiled(self, name: str, channel: str, version: int | None) -> _Compiled:
        if version is not None and (hit := self._cache.get((name, channel, version))) is not None:
            return hit
        async with self.sessions() as session:
            number = version or await store.latest_number(session, name, channel)
            if number is None:
                raise TemplateError(f"template {name!r} not found for channel {channel!r}")
            key = (name, channel, number)
            if (hit := self._cache.get(key)) is not None:
                return hit
            row = await store.get(session, name, channel, number)
        if row is None:
            raise TemplateError(f"template {name!r} has no version {number} for {channel!r}")
        compiled = compile_version(row)
        if self.cache_size > 0:
            self._cache[key] = compiled
        return compiled

    async def exists(self, name: str, channel: str) -> bool:
        """Whether template ``name`` exists for ``channel``."""
        async with self.sessions() as session:
            return await store.exists(session, name, channel)

    async def missing(self, templates: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """The (name, channel) pairs that have no template, e.g. the sends of a journey
        definition about to be saved; empty when all exist."""
        async with self.sessions() as session:
            return await store.missing(session, templates)


# -- Seeding from the shipped files -------------------------------------------------------------

FILE_PARTS = {"subject": "subject", "txt": "text", "html": "html"}


@dataclass
class SeedReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    # The file changed, but the template's latest version was saved through the API: kept.
    kept: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def read_folder(folder: Path, channels: Iterable[str]) -> dict[tuple[str, str], store.Content]:
    """The templates a folder of ``<name>.<subject|txt|html>.j2`` files provides, per channel of
    ``channels``: what the parts a name has make it.

    - A name with a subject is an **email**: on ``email`` only (its subject and its text and/or
      HTML part). Its text part is the email's plain-text alternative, not an SMS.
    - A name without a subject is a **text message**: on every other channel (``sms``,
      ``webhook``, ...), its text part alone.

    A name that fits neither (a subject without a body, no text part) is logged and skipped.
    """
    files: dict[str, dict[str, str]] = {}
    for path in sorted(folder.glob("*.j2")):
        stem, _, suffix = path.name.removesuffix(".j2").rpartition(".")
        if suffix in FILE_PARTS and stem:
            files.setdefault(stem, {})[FILE_PARTS[suffix]] = path.read_text(encoding="utf-8")
    wanted = list(dict.fromkeys(channels))
    found: dict[tuple[str, str], store.Content] = {}
    for name, parts in files.items():
        origin = f"{folder}/{name}.*.j2"
        if not re.match(NAME_PATTERN, name):
            log.warning("templates: %s skipped: not a valid template name", origin)
            continue
        if "subject" in parts:
            if "text" not in parts and "html" not in parts:
                log.warning("templates: %s skipped: an email needs a text or html part", origin)
            elif "email" in wanted:
                found[name, "email"] = store.Content(
                    parts["subject"], parts.get("text"), parts.get("html")
                )
            continue
        if "text" not in parts:
            log.warning("templates: %s skipped: no subject (email) nor text part", origin)
            continue
        if "html" in parts:
            log.warning("templates: %s: an html part without a subject is not used", origin)
        for channel in wanted:
            if channel != "email":
                found[name, channel] = store.Content(None, parts["text"], None)
    return found


async def seed_templates(sessions: Sessions, settings: Settings) -> SeedReport:
    """Store the shipped templates (``settings.templates_dir``) for the configured channels.

    A template missing from the store gets version 1 (source ``seed``); one whose latest
    version was seeded gets a new version when its files changed. A template whose latest
    version was saved through the API is never replaced: a changed file is reported (``kept``)
    and logged, and its change must be made through the API. Safe to run from several workers
    at once, and a no-op when nothing changed.
    """
    report = SeedReport()
    folder = settings.templates_dir
    if not folder.is_dir():
        log.info("templates: no folder %s, nothing to seed", folder)
        return report
    for (name, channel), content in read_folder(folder, settings.channel_providers).items():
        label = f"{channel}/{name}"
        outcome = await _seed_one(sessions, name, channel, content, f"{folder}/{name}.*.j2")
        getattr(report, outcome).append(label)
        if outcome in {"created", "updated"}:
            for problem in validate(channel, content.subject, content.text, content.html):
                log.warning("templates: %s (from %s): %s", label, folder, problem)
    for label in report.kept:
        log.warning(
            "templates: %s: the shipped files changed, but its latest version was saved through "
            "the API and is kept; make the change through the API",
            label,
        )
    if report.created or report.updated:
        log.info("templates: seeded %s", ", ".join(report.created + report.updated))
    return report


async def _seed_one(
    sessions: Sessions, name: str, channel: str, content: store.Content, origin: str
) -> str:
    for _ in range(3):
        try:
            async with sessions.begin() as session:
                latest = await store.get(session, name, channel)
                if latest is not None and latest.source != store.SEED:
                    seeded = await store.latest_from(session, name, channel, store.SEED)
                    same = seeded is not None and store.Content.of(seeded) == content
                    return "unchanged" if same else "kept"
                if latest is not None and store.Content.of(latest) == content:
                    return "unchanged"
                await store.add_version(
                    session,
                    name,
                    channel,
                    content,
                    previous=latest.version if latest else None,
                    source=store.SEED,
                    description=f"seeded from {origin}",
                )
                return "created" if latest is None else "updated"
        except IntegrityError:
            continue  # another worker seeded it at the same moment: look again
    return "skipped"
