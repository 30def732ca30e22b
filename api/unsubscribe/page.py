"""The preference centre's one page, server-rendered with every value escaped.

It shows channel and group names and their state, never an address or any other profile field:
whoever holds the link sees only what the link's recipient may change. The response forbids
framing, scripts and referrers (the token is in the URL), and caching.
"""

from __future__ import annotations

import jinja2
from fastapi.responses import HTMLResponse

from api.unsubscribe.preferences import SUBSCRIBED, UNSUBSCRIBED, Subscription

HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}
_LABELS = {"email": "Email", "sms": "Text messages (SMS)"}

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
_PAGE = _ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{ title }}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#222}
fieldset{border:1px solid #ccc;margin:1rem 0;padding:.5rem 1rem}
.row{display:flex;justify-content:space-between;margin:.5rem 0}
.notice{background:#eef7ee;padding:.5rem 1rem}
button{padding:.4rem 1rem}
</style></head><body>
<h1>{{ title }}</h1>
{% if notice %}<p class="notice" role="status">{{ notice }}</p>{% endif %}
{% if unsubscribe_all %}
<form method="post" action="{{ unsubscribe_action }}">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<p><button type="submit">{{ unsubscribe_all }}</button></p>
</form>
{% endif %}
<form method="post" action="{{ preferences_action }}">
{% for legend, items in sections %}{% if items %}
<fieldset><legend>{{ legend }}</legend>
{% for s in items %}<div class="row"><span>{{ s.label }}</span><span>
<label><input type="radio" name="{{ s.field }}" value="{{ subscribed }}"
{%- if s.subscribed %} checked{% endif %}{% if s.locked %} disabled{% endif %}> subscribed</label>
<label><input type="radio" name="{{ s.field }}" value="{{ unsubscribed }}"
{%- if not s.subscribed %} checked{% endif %}> unsubscribed</label>
</span></div>
{% if s.locked %}<p>To get these again, opt in on that channel (texts: reply START).</p>
{% endif %}
{% endfor %}</fieldset>
{% endif %}{% endfor %}
<p><button type="submit">Save my preferences</button></p>
</form>
</body></html>
"""
)
_ERROR = _ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<title>{{ title }}</title></head><body><h1>{{ title }}</h1><p>{{ message }}</p>
{% if link %}<p><a href="{{ link }}">Change your email preferences</a></p>{% endif %}
</body></html>
"""
)


def preference_page(
    subscriptions: list[Subscription],
    *,
    title: str,
    notice: str | None,
    unsubscribe_all: str | None,
    unsubscribe_action: str,
    preferences_action: str,
    status_code: int = 200,
) -> HTMLResponse:
    """The page: an optional one-click button (``unsubscribe_all`` is its label) and the form
    of channels and groups, each with its state."""
    items = [
        {
            "field": s.field,
            "label": _LABELS.get(s.name, s.name) if s.kind == "channel" else s.name,
            "subscribed": s.subscribed,
            "locked": not (s.subscribed or s.resubscribable),
        }
        for s in subscriptions
    ]
    html = _PAGE.render(
        title=title,
        notice=notice,
        unsubscribe_all=unsubscribe_all,
        unsubscribe_action=unsubscribe_action,
        preferences_action=preferences_action,
        sections=[
            (
                "Channels",
                [i for i, s in zip(items, subscriptions, strict=True) if s.kind == "channel"],
            ),
            (
                "Subscriptions",
                [i for i, s in zip(items, subscriptions, strict=True) if s.kind == "group"],
            ),
        ],
        subscribed=SUBSCRIBED,
        unsubscribed=UNSUBSCRIBED,
    )
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


def message_page(
    title: str, message: str, status_code: int, *, link: str | None = None
) -> HTMLResponse:
    """A page of one message (a refusal, or what one click did), with the preference
    centre's ``link`` when there is one."""
    html = _ERROR.render(title=title, message=message, link=link)
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)
