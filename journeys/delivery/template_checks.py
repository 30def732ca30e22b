"""Checking a template before it is saved: syntax, a render against sample data, the channel's
rules, and for SMS the encoding and number of segments the text will cost.

``validate`` returns a list of :class:`Problem`; ``errors`` refuse a save, ``warnings`` do not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import jinja2
from jinja2.exceptions import SecurityError

from journeys.delivery.rendering import (
    compile_part,
    describe,
    error_line,
    named_context,
    render_part,
)

Severity = Literal["error", "warning"]

# Problem codes of a draft the sandbox refuses (journeys/definitions/sandbox.py: an unsafe attribute
# or call, or an operation over its budget), or that ran past the API's time limit.
REFUSED = frozenset({"unsafe", "time_limit"})

# Parts a template may have, as fields of the API and columns of the store.
FIELDS = ("subject", "text", "html")

# SMS: more segments than this is a warning (each segment is billed); Twilio refuses a body
# longer than SMS_MAX_CHARACTERS.
SMS_WARN_SEGMENTS = 3
SMS_MAX_CHARACTERS = 1600

# GSM 03.38: the default alphabet (one septet each; ESC, 0x1B, only introduces the extension
# table) and the extension table (ESC plus one septet: two each).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

SAMPLE_CUSTOMER: dict[str, Any] = {
    "id": "sample-customer",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "phone": "+15555550100",
}


@dataclass(frozen=True)
class Problem:
    """What is wrong with one field of a template; ``line`` is the template line, when known."""

    field: str
    message: str
    code: str = "invalid"
    severity: Severity = "error"
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.field} line {self.line}" if self.line else self.field
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class SmsSegments:
    """How an SMS text travels: GSM-7 (160 septets, 153 per part when split; the extension
    characters ``^{}\\[~]|€`` and form feed take two) or, with any other character, UCS-2 (70
    UTF-16 units, 67 per part; characters beyond the BMP, e.g. emoji, take two)."""

    encoding: Literal["GSM-7", "UCS-2"]
    characters: int
    units: int
    segments: int
    # Characters outside GSM-7 that made the text UCS-2, in order of appearance.
    non_gsm: tuple[str, ...] = ()


def sms_segments(text: str) -> SmsSegments:
    non_gsm = tuple(
        dict.fromkeys(c for c in text if c not in GSM7_BASIC and c not in GSM7_EXTENSION)
    )
    if non_gsm:
        units = [2 if ord(c) > 0xFFFF else 1 for c in text]
        single, part = 70, 67
    else:
        units = [2 if c in GSM7_EXTENSION else 1 for c in text]
        single, part = 160, 153
    return SmsSegments(
        encoding="UCS-2" if non_gsm else "GSM-7",
        characters=len(text),
        units=sum(units),
        segments=_segments(units, single, part),
        non_gsm=non_gsm,
    )


def _segments(units: list[int], single: int, part: int) -> int:
    """Segments needed: one if everything fits ``single``; otherwise ``part`` units each, where
    a two-unit character (an escape pair, a surrogate pair) is never split across two parts."""
    total = sum(units)
    if total <= single:
        return 1 if total else 0
    if all(u == 1 for u in units):
        return math.ceil(total / part)
    segments, used = 1, 0
    for unit in units:
        if used + unit > part:
            segments, used = segments + 1, 0
        used += unit
    return segments


# An email's template also gets the recipient's signed links (journeys/delivery/unsubscribe.py).
SAMPLE_EMAIL_LINKS = {
    "unsubscribe_url": "https://journeys.example.com/u/sample-token",
    "preferences_url": "https://journeys.example.com/u/sample-token/preferences",
}


def sample_context(
    customer: dict[str, Any] | None = None,
    event: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The context a send would build, with sample values: ``customer`` replaces the sample
    profile (its ``id`` defaults to ``sample-customer``), ``event`` the sample trigger's fields."""
    profile = {"id": SAMPLE_CUSTOMER["id"], **customer} if customer is not None else SAMPLE_CUSTOMER
    trigger: dict[str, Any] = {
        "name": "Sample Event",
        "message_id": "sample-message",
        "timestamp": datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
        "properties": {},
        **(event or {}),
    }
    return {
        "customer": dict(profile),
        "event": trigger,
        "journey": {"key": "preview", "version": 1},
        "data": dict(data or {}),
    }


def for_channel(channel: str, sample: dict[str, Any]) -> dict[str, Any]:
    """``sample`` with what a send adds for ``channel``: an email's unsubscribe and preference
    links (journeys/activities/send.py), unless the sample has its own."""
    return {**SAMPLE_EMAIL_LINKS, **sample} if channel == "email" else sample


@dataclass
class Checked:
    """``validate``'s findings plus what the sample rendered to (``None`` where it could not)."""

    problems: list[Problem] = field(default_factory=list)
    rendered: dict[str, str | None] | None = None
    sms: SmsSegments | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


def validate(
    channel: str,
    subject: str | None,
    text: str | None,
    html: str | None,
    sample: dict[str, Any] | None = None,
) -> list[Problem]:
    """Every problem of a draft for ``channel``; see :func:`check`."""
    return check(channel, subject, text, html, sample).problems


def check(
    channel: str,
    subject: str | None,
    text: str | None,
    html: str | None,
    sample: dict[str, Any] | None = None,
) -> Checked:
    """Check a draft: the parts the channel needs or refuses, each part's syntax (with its line),
    a render against ``sample`` (default :func:`sample_context`; an undefined variable is named),
    then the rendered result (an email subject on one line; an SMS's length and segments).
    Empty and whitespace-only parts count as absent."""
    parts = {"subject": subject, "text": text, "html": html}
    present = {name: source for name, source in parts.items() if source and source.strip()}
    result = Checked(problems=_shape(channel, present))

    compiled: dict[str, jinja2.Template] = {}
    for name, source in present.items():
        try:
            compiled[name] = compile_part(name, source)
        except jinja2.TemplateSyntaxError as err:
            line = error_line(err)
            result.problems.append(
                Problem(name, f"line {line}: {describe(err)}", "syntax", line=line)
            )
    if len(compiled) < len(present):
        return result

    context = named_context(
        for_channel(channel, sample if sample is not None else sample_context())
    )
    rendered: dict[str, str | None] = dict.fromkeys(FIELDS)
    for name, template in compiled.items():
        try:
            rendered[name] = render_part(name, template, context)
        except Exception as err:
            line = error_line(err)
            where = f"line {line}: " if line else ""
            code = (
                "unsafe"
                if isinstance(err, SecurityError)
                else "undefined"
                if isinstance(err, jinja2.UndefinedError)
                else "render"
            )
            result.problems.append(Problem(name, f"{where}{describe(err)}", code, line=line))
    if any(p.code in {"unsafe", "undefined", "render"} for p in result.problems):
        return result
    result.rendered = rendered
    result.problems += _rendered(channel, rendered, result)
    return result


def _shape(channel: str, present: dict[str, str]) -> list[Problem]:
    problems = []
    if channel == "email":
        if "subject" not in present:
            problems.append(Problem("subject", "an email needs a subject", "required"))
        if "text" not in present and "html" not in present:
            problems.append(Problem("text", "an email needs a text or an HTML body", "required"))
    else:
        if "text" not in present:
            problems.append(Problem("text", f"a {channel} message needs a text body", "required"))
        if channel == "sms":
            for name in ("subject", "html"):
                if name in present:
                    problems.append(
                        Problem(name, f"an SMS is text only: remove the {name}", "not_allowed")
                    )
    return problems


def _rendered(channel: str, rendered: dict[str, str | None], result: Checked) -> list[Problem]:
    problems = []
    subject, text = rendered["subject"], rendered["text"]
    if subject is not None:
        if "\n" in subject or "\r" in subject:
            problems.append(
                Problem("subject", "the subject renders with a line break", "line_break")
            )
        elif not subject:
            problems.append(
                Problem("subject", "the subject renders empty", "empty", severity="warning")
            )
    if text is not None and not text.strip():
        problems.append(
            Problem("text", "the text renders empty with the sample", "empty", severity="warning")
        )
    if channel == "sms" and text is not None:
        result.sms = sms_segments(text)
        problems += _sms(result.sms, text)
    return problems


def _sms(info: SmsSegments, text: str) -> list[Problem]:
    problems = []
    if info.characters > SMS_MAX_CHARACTERS:
        problems.append(
            Problem(
                "text",
                f"{info.characters} characters: an SMS body is at most {SMS_MAX_CHARACTERS}",
                "sms_length",
            )
        )
    elif info.segments > SMS_WARN_SEGMENTS:
        problems.append(
            Problem(
                "text",
                f"{info.segments} segments ({info.encoding}, {info.units} units with the sample):"
                f" above {SMS_WARN_SEGMENTS}, each one billed",
                "sms_segments",
                severity="warning",
            )
        )
    if info.non_gsm:
        # Would the text cost fewer segments without its few non-GSM characters?
        as_gsm = sms_segments("".join("?" if c in info.non_gsm else c for c in text))
        if as_gsm.segments < info.segments:
            shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in info.non_gsm[:5])
            problems.append(
                Problem(
                    "text",
                    f"{shown} make the SMS UCS-2: {info.segments} segments instead of "
                    f"{as_gsm.segments} in GSM-7",
                    "sms_encoding",
                    severity="warning",
                )
            )
    return problems
