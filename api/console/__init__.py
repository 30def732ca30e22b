"""The console: server-rendered pages for support and operators, under ``/console``.

Log in with an API key (:mod:`.login`), find a customer and read their runs' timelines, cancel
a run (:mod:`.customer_pages`), browse journeys with their funnels (:mod:`.journey_pages`),
preview templates (:mod:`.template_pages`). Pages work without JavaScript. Who may see and do
what is :mod:`.access`; every form carries a token (:mod:`.csrf`). Charts are drawn on the
server as SVG (:mod:`.charts`).

May import the app's frame (:mod:`api.auth`, :mod:`api.deps`, :mod:`api.isolated`), the journeys
library, :mod:`api.contacts`, and the resources' helpers it shares with the API (a run's form and
its control in :mod:`api.runs`, :mod:`api.templates.previews`), never a resource's routes.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.console import assets, customer_pages, journey_pages, login, template_pages

router = APIRouter(prefix="/console", include_in_schema=False)
for _pages in (assets, login, customer_pages, journey_pages, template_pages):
    router.include_router(_pages.router)
