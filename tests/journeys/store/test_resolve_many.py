"""The router resolves a pull's customers at once (``customers.resolve_many``): the answer must
be what resolving each id on its own gives, on SQLite and PostgreSQL."""

from __future__ import annotations

from journeys.store import customers
from journeys.store.models import CustomerAlias
from tests.conftest import Store
from tests.support.helpers import customer_id


async def test_resolving_many_ids_agrees_with_resolving_each(store: Store) -> None:
    known, device, phone, stranger = (customer_id() for _ in range(4))
    older, newer, middle = (customer_id() for _ in range(3))
    async with store.sessions.begin() as session:
        await customers.link(session, device, known, source="identify")
        await customers.link(session, phone, known, source="identify")
    async with store.sessions.begin() as session:
        # A chain two links deep, which link() never makes but resolve() follows.
        session.add(CustomerAlias(alias_id=older, customer_id=middle, source="alias"))
        session.add(CustomerAlias(alias_id=middle, customer_id=newer, source="alias"))
    ids = [known, device, phone, stranger, older, middle]

    async with store.sessions() as session:
        together = await customers.resolve_many(session, ids)
        one_by_one = {i: await customers.resolve(session, i) for i in ids}

    assert together == one_by_one
    assert together[device] == customers.Identity(known, tuple(sorted((device, phone))))
    assert together[stranger] == customers.Identity(stranger)
    assert together[older].customer_id == newer
