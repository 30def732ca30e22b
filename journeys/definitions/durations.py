"""Durations as people write them in journeys: ``15m``, ``2h``, ``1d12h``, ``1w``, ``90s``.

Also ISO 8601 (``PT15M``, ``P1DT2H``), which JSON tools tend to produce.
"""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_COMPACT = re.compile(r"(\d+)\s*(w|d|h|m|s)")
_ISO = re.compile(
    r"P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?"
)


def parse_duration(text: str) -> timedelta:
    """``text`` as a duration of at least one second; ``ValueError`` names what is wrong."""
    value = text.strip()
    iso = _ISO.fullmatch(value.upper()) if value[:1].upper() == "P" else None
    if iso is not None:
        seconds = sum(int(n) * _UNITS[unit] for unit, n in iso.groupdict().items() if n)
    else:
        compact = value.replace(" ", "")
        parts = _COMPACT.findall(compact)
        if not parts or "".join(n + u for n, u in parts) != compact:
            raise ValueError(f"{text!r} is not a duration: write it like 15m, 2h, 1d12h, 1w or 90s")
        seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds < 1:
        raise ValueError(f"{text!r}: a duration must be at least one second")
    return timedelta(seconds=seconds)


def to_timedelta(text: str) -> timedelta:
    """A validated duration field as a timedelta; an offset may start with ``-``."""
    if text.startswith("-"):
        return -parse_duration(text[1:])
    return parse_duration(text)
