"""Customer profiles and identity: who an event is about, and what templates know of them.

A visitor is first known by an ``anonymousId``; an identify call carrying both ids, or an alias
call, tells us it is the same person as a ``userId``. From then on the anonymous id is an alias of
the known customer: its profile is merged into theirs, events sent with it apply to them, and the
journeys started while they were anonymous are reached by their later events (the router signals
the runs of every id of a customer).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from journeys.store.db import insert_or_skip
from journeys.store.models import Customer, CustomerAlias

# Traits mirrored into columns: support finds customers by address, sends read the timezone.
_MIRRORED = {"email": 320, "phone": 50, "timezone": 64}


@dataclass(frozen=True)
class Identity:
    """A customer's canonical id and every other id events may carry for them."""

    customer_id: str
    aliases: tuple[str, ...] = ()

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.customer_id, *self.aliases)


async def resolve(session: AsyncSession, customer_id: str) -> Identity:
    """The identity ``customer_id`` belongs to, whether it is the canonical id or an alias."""
    rows = (
        await session.execute(
            select(CustomerAlias.alias_id, CustomerAlias.customer_id).where(
                or_(
                    CustomerAlias.alias_id == customer_id,
                    CustomerAlias.customer_id == customer_id,
                )
            )
        )
    ).all()
    canonical = next((c for a, c in rows if a == customer_id), customer_id)
    if canonical != customer_id:
        return await resolve(session, canonical)
    return Identity(customer_id, tuple(sorted(a for a, c in rows if c == canonical)))


async def resolve_many(session: AsyncSession, customer_ids: Collection[str]) -> dict[str, Identity]:
    """:func:`resolve` for many ids in two queries: the router resolves a pull's customers at
    once instead of opening a session per event."""
    ids = set(customer_ids)
    if not ids:
        return {}
    pair = select(CustomerAlias.alias_id, CustomerAlias.customer_id)
    rows = list(
        await session.execute(
            pair.where(or_(CustomerAlias.alias_id.in_(ids), CustomerAlias.customer_id.in_(ids)))
        )
    )
    canonical = {alias: customer for alias, customer in rows if alias in ids}
    others = set(canonical.values()) - ids
    if others:
        rows += await session.execute(
            pair.where(
                or_(CustomerAlias.alias_id.in_(others), CustomerAlias.customer_id.in_(others))
            )
        )
    aliases: dict[str, set[str]] = defaultdict(set)
    is_alias = set()
    for alias, customer in rows:
        aliases[customer].add(alias)
        is_alias.add(alias)
    found = {}
    for customer_id in ids:
        known = canonical.get(customer_id, customer_id)
        if known != customer_id and known in is_alias:  # a chain of links: follow it one by one
            found[customer_id] = await resolve(session, customer_id)
        else:
            found[customer_id] = Identity(known, tuple(sorted(aliases[known])))
    return found


async def profile(session: AsyncSession, customer_id: str) -> Customer | None:
    """The profile of whoever ``customer_id`` is (following an alias to the known customer)."""
    identity = await resolve(session, customer_id)
    return await session.get(Customer, identity.customer_id)


async def merge_traits(
    session: AsyncSession, customer_id: str, traits: Mapping[str, Any]
) -> Customer:
    """Merge ``traits`` into the profile (new values win), creating the profile if needed.

    Two writers may create the same profile at once: an event that starts two journeys for a
    customer seen for the first time enters both runs together, and each entry merges the
    event's traits. So the profile is created by an insert that yields to a row already there,
    then read back: the second writer merges into the first one's row instead of failing on
    the primary key (and retrying its whole entry a second later)."""
    customer = await session.get(Customer, customer_id)
    if customer is None:
        empty = {"id": customer_id, "traits": {}}
        await session.execute(insert_or_skip(session, Customer, [Customer.id]).values(empty))
        customer = await session.get(Customer, customer_id)
        assert customer is not None
    if traits or customer.traits is None:
        customer.traits = {**(customer.traits or {}), **traits}
    _mirror(customer)
    return customer


async def link(session: AsyncSession, alias_id: str, customer_id: str, *, source: str) -> bool:
    """Record that ``alias_id`` is ``customer_id``; merge the alias's profile into theirs.

    Returns False when nothing changed (already linked, or the ids are the same). The known
    customer's traits win over the anonymous ones; traits only the alias had are kept.
    """
    target = await resolve(session, customer_id)
    if alias_id == target.customer_id or alias_id in target.aliases:
        return False
    existing = await session.get(CustomerAlias, alias_id)
    if existing is not None:
        # Already someone else's alias: a second identify of a shared device. The first
        # link stands; merging two known customers is an explicit alias call between them.
        if source != "alias":
            return False
        existing.customer_id = target.customer_id
        existing.source = source
    else:
        session.add(CustomerAlias(alias_id=alias_id, customer_id=target.customer_id, source=source))
    # The alias's own aliases now belong to the target too (chains stay one level deep).
    await session.execute(
        update(CustomerAlias)
        .where(CustomerAlias.customer_id == alias_id)
        .values(customer_id=target.customer_id)
    )
    merged_from = await session.get(Customer, alias_id)
    known = await session.get(Customer, target.customer_id)
    if merged_from is not None:
        base = dict(merged_from.traits or {})
        if known is None:
            known = Customer(id=target.customer_id, traits=base)
            session.add(known)
        else:
            known.traits = {**base, **(known.traits or {})}
        _mirror(known)
    await session.flush()
    return True


def _mirror(customer: Customer) -> None:
    traits = customer.traits or {}
    for name, size in _MIRRORED.items():
        value = traits.get(name)
        text = str(value)[:size] if isinstance(value, str | int) and value != "" else None
        setattr(customer, name, text)
