"""A stored template version previewed as a send would render it: a job for
:func:`api.isolated.run_isolated`, shared by the API's preview route and the console's page.
"""

from __future__ import annotations

from typing import Any

from journeys.delivery.rendering import RenderedTemplate, TemplateError
from journeys.delivery.template_checks import Checked, check, for_channel
from journeys.delivery.templates_catalog import render_version
from journeys.store.models import TemplateVersion


def preview_version(
    name: str,
    channel: str,
    version: int,
    parts: tuple[str | None, str | None, str | None],
    context: dict[str, Any],
) -> tuple[Checked, RenderedTemplate | str]:
    """A stored version checked and rendered as a send would, or why it does not render; a job
    for :func:`~api.isolated.run_isolated` (the API's and the console's previews)."""
    subject, text, html = parts
    context = for_channel(channel, context)
    checked = check(channel, subject, text, html, context)
    row = TemplateVersion(
        name=name, channel=channel, version=version, subject=subject, text=text, html=html
    )
    try:
        return checked, render_version(row, context)
    except TemplateError as err:
        return checked, str(err)
