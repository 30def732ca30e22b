"""Message templates in the console: the list, and a preview of any version rendered with
sample traits and event properties, exactly as a send renders it (the catalog's compile and
render, :func:`journeys.delivery.templates_catalog.render_version`).

An email shows its subject, its HTML in a sandboxed frame (no scripts, no access to the
console) and its text; an SMS its text with the encoding and the segments it will cost.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request, status
from fastapi.responses import HTMLResponse

from api.console import views
from api.console.access import Viewer, console_router
from api.deps import SessionDep
from api.isolated import CheckStopped, run_isolated
from api.templates.previews import preview_version
from journeys.delivery.rendering import RenderedTemplate
from journeys.delivery.template_checks import SAMPLE_CUSTOMER, sample_context
from journeys.store import templates as store

router = console_router()

DEFAULT_TRAITS = json.dumps(
    {k: v for k, v in SAMPLE_CUSTOMER.items() if k != "id"}, indent=2, ensure_ascii=False
)
DEFAULT_PROPERTIES = "{}"
MAX_SAMPLE = 20_000


@router.get("/templates")
async def template_list(request: Request, principal: Viewer, session: SessionDep) -> HTMLResponse:
    rows = await store.latest_all(session)
    return views.render(
        request,
        "templates.html",
        {"section": "templates", "templates": rows},
        principal=principal,
    )


@router.get("/templates/{channel}/{name}")
async def template_preview(
    request: Request,
    channel: str,
    name: str,
    principal: Viewer,
    session: SessionDep,
    version: int | None = None,
    traits: str = DEFAULT_TRAITS,
    properties: str = DEFAULT_PROPERTIES,
) -> HTMLResponse:
    """The version (default: the latest) rendered with the sample in the form below it."""
    versions = await store.versions(session, name, channel)
    row = next((v for v in versions if version is None or v.version == version), None)
    if row is None:
        what = f"version {version} of template" if version else "template"
        return views.problem(
            request,
            status.HTTP_404_NOT_FOUND,
            "No such template",
            f"There is no {what} {name!r} for channel {channel!r}.",
            principal=principal,
        )
    errors: list[str] = []
    sample_traits = _json_object("traits", traits, errors)
    sample_properties = _json_object("properties", properties, errors)
    code = status.HTTP_400_BAD_REQUEST if errors else status.HTTP_200_OK
    rendered: RenderedTemplate | None = None
    warnings: list[str] = []
    sms = None
    if not errors:
        context = sample_context(sample_traits, {"properties": sample_properties})
        parts = (row.subject, row.text, row.html)
        try:
            checked, outcome = await run_isolated(
                preview_version, row.name, channel, row.version, parts, context
            )
        except CheckStopped as err:
            checked, outcome = None, str(err)
        if checked is not None:
            warnings = [str(p) for p in checked.warnings]
            sms = checked.sms
        if isinstance(outcome, str):
            errors.append(outcome)
            code = status.HTTP_422_UNPROCESSABLE_CONTENT
        else:
            rendered = outcome
    return views.render(
        request,
        "template.html",
        {
            "section": "templates",
            "row": row,
            "versions": versions,
            "traits_text": traits,
            "properties_text": properties,
            "rendered": rendered,
            "errors": errors,
            "warnings": warnings,
            "sms": sms,
        },
        principal=principal,
        status_code=code,
    )


def _json_object(field: str, text: str, errors: list[str]) -> dict[str, Any]:
    """The form field as a JSON object, or an error naming the field."""
    if len(text) > MAX_SAMPLE:
        errors.append(f"{field}: at most {MAX_SAMPLE} characters")
        return {}
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as err:
        errors.append(f"{field}: not valid JSON ({err.msg}, line {err.lineno})")
        return {}
    if not isinstance(value, dict):
        errors.append(f'{field}: must be a JSON object, like {{"first_name": "Ada"}}')
        return {}
    return value
