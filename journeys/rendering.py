"""Message templates: Jinja2 in a sandbox, where an undefined variable is an error, not a blank.

A template named ``cart_recovery_email`` is the set of files ``cart_recovery_email.subject.j2``,
``.txt.j2`` and ``.html.j2`` in the templates folder; an SMS needs only ``.txt.j2``. HTML parts are
autoescaped, text parts are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

PARTS = ("subject", "txt", "html")


class TemplateError(Exception):
    """A template that is missing or cannot be rendered; the message names template and cause."""


@dataclass(frozen=True)
class RenderedMessage:
    template: str
    subject: str | None
    text: str | None
    html: str | None


class TemplateRenderer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._env = SandboxedEnvironment(
            loader=jinja2.FileSystemLoader(str(folder)),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
            keep_trailing_newline=False,
            auto_reload=True,
        )

    def parts(self, name: str) -> list[str]:
        return [p for p in PARTS if (self.folder / f"{name}.{p}.j2").is_file()]

    def render(self, name: str, channel: str, context: dict[str, Any]) -> RenderedMessage:
        available = self.parts(name)
        if not available:
            raise TemplateError(f"template {name!r} not found in {self.folder}")
        if channel == "email" and "subject" not in available:
            raise TemplateError(f"template {name!r}: an email needs {name}.subject.j2")
        if channel != "email" and "txt" not in available:
            raise TemplateError(f"template {name!r}: a {channel} message needs {name}.txt.j2")
        wanted = available if channel == "email" else ["txt"]
        rendered = {part: self._render_part(name, part, context) for part in wanted}
        return RenderedMessage(
            template=name,
            subject=rendered.get("subject"),
            text=rendered.get("txt"),
            html=rendered.get("html"),
        )

    def _render_part(self, name: str, part: str, context: dict[str, Any]) -> str:
        filename = f"{name}.{part}.j2"
        try:
            text = self._env.get_template(filename).render(context)
        except jinja2.TemplateSyntaxError as err:
            raise TemplateError(f"{filename} line {err.lineno}: {err.message}") from err
        except jinja2.UndefinedError as err:
            raise TemplateError(f"{filename}: {err.message}") from err
        except jinja2.exceptions.SecurityError as err:
            raise TemplateError(f"{filename}: unsafe expression refused: {err}") from err
        return text.strip() if part == "subject" else text
