"""Finding a customer from what support has at hand: an id, an email address, a phone number.

An id may be the canonical one or any alias (an ``anonymousId`` they were identified from), and
someone known only through runs (a profile erased later) is still found by id. Addresses are
matched against the profile columns mirrored from the traits, exactly as written and in the
usual other spellings (an email in lower case; a number without spaces, or as ``+`` and digits),
so the columns' indexes serve the lookup however large the table.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from journeys.delivery.compliance import normalise_address
from journeys.store.customers import resolve
from journeys.store.models import Customer, JourneyRun

MAX_MATCHES = 50


@dataclass(frozen=True)
class CustomerMatch:
    """A customer found, what matched (``id``, ``email`` or ``phone``), and their addresses."""

    customer_id: str
    matched: str
    email: str | None
    phone: str | None


async def search_customers(
    session: AsyncSession,
    *,
    email: str | None = None,
    phone: str | None = None,
    q: str | None = None,
    limit: int = MAX_MATCHES,
) -> list[CustomerMatch]:
    """Customers whose email is ``email``, whose phone is ``phone``, or (``q``) whose id, email
    or phone is ``q``; an id match first, then by id. Empty search terms find no one."""
    matches: dict[str, CustomerMatch] = {}
    emails: set[str] = set()
    phones: set[str] = set()
    if q is not None and q.strip():
        query = q.strip()
        by_id = await _by_id(session, query)
        if by_id is not None:
            matches[by_id.customer_id] = by_id
        emails |= email_spellings(query)
        phones |= phone_spellings(query)
    if email is not None:
        emails |= email_spellings(email)
    if phone is not None:
        phones |= phone_spellings(phone)
    conditions = []
    if emails:
        conditions.append(Customer.email.in_(emails))
    if phones:
        conditions.append(Customer.phone.in_(phones))
    if conditions:
        rows = await session.execute(
            select(Customer.id, Customer.email, Customer.phone)
            .where(or_(*conditions))
            .order_by(Customer.id)
            .limit(limit)
        )
        for customer_id, found_email, found_phone in rows.all():
            matched = "email" if found_email in emails else "phone"
            matches.setdefault(
                customer_id, CustomerMatch(customer_id, matched, found_email, found_phone)
            )
    return list(matches.values())[:limit]


def email_spellings(text: str) -> set[str]:
    text = text.strip()
    return {text, text.lower()} - {""}


def phone_spellings(text: str) -> set[str]:
    text = text.strip()
    return {text, "".join(text.split()), normalise_address("sms", text)} - {"", "+"}


async def _by_id(session: AsyncSession, customer_id: str) -> CustomerMatch | None:
    identity = await resolve(session, customer_id)
    profile = await session.get(Customer, identity.customer_id)
    if profile is not None:
        return CustomerMatch(identity.customer_id, "id", profile.email, profile.phone)
    has_runs = await session.scalar(
        select(JourneyRun.id).where(JourneyRun.customer_id.in_(identity.ids)).limit(1)
    )
    return CustomerMatch(identity.customer_id, "id", None, None) if has_runs else None
