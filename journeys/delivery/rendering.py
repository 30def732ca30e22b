"""Message templates: Jinja2 in a sandbox, where an undefined variable is an error, not a blank.

Templates live in the store (``journeys/delivery/templates_catalog.py``: versions, the send path's
cache, seeding from the shipped files). This module is the engine both use: the sandboxed
environments, compiling a template's parts from source, and turning Jinja's errors into a part and a
line.

:class:`TemplateRenderer` renders straight from files: a template named ``cart_recovery_email``
is the set of files ``cart_recovery_email.subject.j2``, ``.txt.j2`` and ``.html.j2`` in the
templates folder; an SMS needs only ``.txt.j2``. HTML parts are autoescaped, text parts are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError

from journeys.definitions.sandbox import BoundedSandbox, render

PARTS = ("subject", "txt", "html")


class TemplateError(Exception):
    """A template that is missing or cannot be rendered; the message names template and cause."""


@dataclass(frozen=True)
class RenderedMessage:
    template: str
    subject: str | None
    text: str | None
    html: str | None


@dataclass(frozen=True)
class RenderedTemplate(RenderedMessage):
    """A message rendered from a stored template, with the version that rendered it."""

    channel: str
    version: int


class Scope(dict[str, Any]):
    """A context mapping that knows where it sits (``customer``, ``event.properties``), so an
    undefined key is reported as ``'customer.nickname' is undefined`` rather than as a key
    missing from some ``dict object``. Templates cannot read ``_path`` (the sandbox refuses
    attributes starting with an underscore)."""

    __slots__ = ("_path",)

    def __init__(self, values: dict[str, Any], path: str) -> None:
        super().__init__(values)
        self._path = path


def named_context(context: dict[str, Any]) -> dict[str, Any]:
    """``context`` with every nested mapping a :class:`Scope` named by its path."""
    return {key: _named(value, key) for key, value in context.items()}


def _named(value: Any, path: str) -> Any:
    if isinstance(value, dict):
        return Scope({k: _named(v, f"{path}.{k}") for k, v in value.items()}, path)
    if isinstance(value, list):
        return [_named(v, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


class _StrictUndefined(jinja2.StrictUndefined):
    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        owner, name = self._undefined_obj, self._undefined_name
        if isinstance(owner, Scope) and not self._undefined_hint:
            key = f".{name}" if isinstance(name, str) else f"[{name!r}]"
            return f"'{owner._path}{key}' is undefined"
        message: str = super()._undefined_message
        return message


def environment(
    *, autoescape: bool | Any = False, loader: jinja2.BaseLoader | None = None
) -> BoundedSandbox:
    """The sandbox templates render in (:mod:`journeys.definitions.sandbox`: every operation, loop
    and output bounded), where an undefined variable is an error."""
    return BoundedSandbox(
        loader=loader,
        undefined=_StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=False,
        auto_reload=True,
    )


TEXT_ENV = environment()
HTML_ENV = environment(autoescape=True)


def compile_part(part: str, source: str) -> jinja2.Template:
    """Compile one part (``subject``, ``text``, ``html``); only ``html`` is autoescaped.
    Raises ``jinja2.TemplateSyntaxError`` (with ``lineno``), also for nesting too deep to
    compile."""
    try:
        return (HTML_ENV if part == "html" else TEXT_ENV).from_string(source)
    except (RecursionError, SyntaxError):
        raise jinja2.TemplateSyntaxError("expressions are nested too deeply", 1) from None


def render_part(part: str, template: jinja2.Template, context: dict[str, Any]) -> str:
    """Render one compiled part within the sandbox's budget; a subject is stripped (a header is
    one line of text)."""
    text = render(template, context)
    return text.strip() if part == "subject" else text


def error_line(err: BaseException) -> int | None:
    """The template line a Jinja error points at: a syntax error's own, or for an error raised
    while rendering the innermost template frame of its traceback (Jinja rewrites it)."""
    if isinstance(err, jinja2.TemplateSyntaxError):
        return err.lineno
    line = None
    tb = err.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def describe(err: Exception) -> str:
    """One sentence for a Jinja error, naming what was refused."""
    if isinstance(err, SecurityError):
        return f"unsafe expression refused: {err}"
    if isinstance(err, jinja2.TemplateSyntaxError | jinja2.UndefinedError):
        return err.message or type(err).__name__
    return f"{type(err).__name__}: {err}"


class TemplateRenderer:
    """Renders templates from files (tools and tests); the worker renders from the store."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._env = environment(
            loader=jinja2.FileSystemLoader(str(folder)),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
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
            text = render(self._env.get_template(filename), context)
        except jinja2.TemplateSyntaxError as err:
            raise TemplateError(f"{filename} line {err.lineno}: {err.message}") from err
        except jinja2.UndefinedError as err:
            raise TemplateError(f"{filename}: {err.message}") from err
        except SecurityError as err:
            raise TemplateError(f"{filename}: unsafe expression refused: {err}") from err
        except Exception as err:  # a TypeError, ZeroDivisionError... of the template's own making
            raise TemplateError(f"{filename}: {describe(err)}") from err
        return text.strip() if part == "subject" else text
