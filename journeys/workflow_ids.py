"""How journeys are named in Temporal: workflow ids and the search attributes support queries.

Pure (no client, no settings), so workflow code may import it: the inactivity watcher names and
tags the journey run it starts exactly as the router would.
"""

from __future__ import annotations

from urllib.parse import quote

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
JOURNEY_KEY = SearchAttributeKey.for_keyword("JourneyKey")
JOURNEY_VERSION = SearchAttributeKey.for_int("JourneyVersion")


def workflow_id(journey_key: str, customer_id: str) -> str:
    """``journey/<key>/<customer>``: one run at a time per customer and journey."""
    return f"journey/{journey_key}/{customer_id}"


def keyed_workflow_id(journey_key: str, customer_id: str, *parts: str) -> str:
    """``journey/<key>/<customer>/<part>...``: runs of one customer that may coexist, one per
    entry key (a cart) and, for journeys re-entered on every trigger, one per trigger."""
    tail = "/".join(quote(part, safe="") for part in parts)
    return f"{workflow_id(journey_key, customer_id)}/{tail}"


def watcher_id(journey_key: str, customer_id: str) -> str:
    """``inactive/<key>/<customer>``: the countdown of an inactivity-triggered journey."""
    return f"inactive/{journey_key}/{customer_id}"


def run_search_attributes(customer_id: str, key: str, version: int) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(CUSTOMER_ID, customer_id),
            SearchAttributePair(JOURNEY_KEY, key),
            SearchAttributePair(JOURNEY_VERSION, version),
        ]
    )
