"""Open and click tracking in an email's HTML, changing nothing but the tracked links.

An HTML parser finds the real ``<a href>`` start tags (not ones inside comments, scripts or
attribute values) and the closing ``</body>``; only those spans of the original text are
replaced, so the rest of the author's markup reaches the customer byte for byte.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from html.parser import HTMLParser

# Put this attribute on an <a> to keep its link as it is (e.g. a link to the privacy policy).
NO_TRACK_ATTRIBUTE = "data-journeys-no-track"

# One attribute inside a start tag whose extent the parser already established.
_ATTRIBUTE = re.compile(r"""([^\s"'<>/=]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+))?""")


class _Finder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        # (line, column, start tag text, href) of every trackable link.
        self.links: list[tuple[int, int, str, str]] = []
        self.body_end: tuple[int, int] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a" or any(name == NO_TRACK_ATTRIBUTE for name, _ in attrs):
            return
        href = next((value for name, value in attrs if name == "href"), None)
        text = self.get_starttag_text()
        if href and text and href.strip().lower().startswith(("http://", "https://")):
            self.links.append((*self.getpos(), text, href.strip()))

    def handle_endtag(self, tag: str) -> None:
        if tag == "body":
            self.body_end = self.getpos()


def _offsets(source: str) -> list[int]:
    """Where each line starts; the parser counts lines by ``\\n`` alone, and so do we."""
    starts = [0]
    starts.extend(index + 1 for index, char in enumerate(source) if char == "\n")
    return starts


def _retarget(tag: str, url: str) -> str:
    """``tag`` with the value of its first ``href`` attribute replaced by ``url``."""
    name_end = re.match(r"<[^\s/>]+", tag)
    start = name_end.end() if name_end else 0
    for match in _ATTRIBUTE.finditer(tag, start):
        if match.group(1).lower() == "href" and match.group(2) is not None:
            quoted = '"' + html.escape(url, quote=True) + '"'
            return tag[: match.start(2)] + quoted + tag[match.end(2) :]
    return tag


def add_tracking(
    source: str, click: Callable[[str], str | None], pixel_url: str | None = None
) -> str:
    """Rewrite each ``http(s)`` link through ``click`` (None keeps the link) and put the open
    pixel just before ``</body>`` (or at the end when there is none)."""
    finder = _Finder()
    finder.feed(source)
    finder.close()
    lines = _offsets(source)
    edits: list[tuple[int, int, str]] = []
    for line, column, tag, href in finder.links:
        tracked = click(href)
        if tracked is not None:
            at = lines[line - 1] + column
            edits.append((at, at + len(tag), _retarget(tag, tracked)))
    if pixel_url is not None:
        pixel = (
            f'<img src="{html.escape(pixel_url, quote=True)}" width="1" height="1" alt="" '
            'style="display:block;width:1px;height:1px;border:0" />'
        )
        at = lines[finder.body_end[0] - 1] + finder.body_end[1] if finder.body_end else len(source)
        edits.append((at, at, pixel))
    for start, end, replacement in sorted(edits, reverse=True):
        source = source[:start] + replacement + source[end:]
    return source
