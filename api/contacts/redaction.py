"""A customer's addresses hidden wherever a support view prints them, not only in their columns.

Audit sentences and rendered messages name recipients ("sms ... sent to +15550000001", "This
email was sent to ada@example.com"), so masking the ``recipient`` field and the traits alone
would still show them. A :class:`Redactor` knows the customer's addresses (contact details in
their traits and ids, and their messages' recipients) and replaces each, in any text or JSON
value, by its masked form. Sentences, ids and facts are also searched for anything else that
looks like an email address or phone number
(:func:`api.contacts.masking.mask_contacts_in`); a message's
rendered subject and body only lose the customer's own addresses, so that support still reads
what the customer read (the shop's own phone number included). Admins see everything as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from api.auth import Principal
from api.contacts.masking import (
    MAX_DEPTH,
    contact_values,
    contacts_in,
    is_contact_name,
    mask_contacts_in,
    shown_address,
    shown_id,
    shown_traits,
    shown_value,
)

# Shorter strings are too likely to be something else ("US", "+1") to be replaced in text.
_MIN_ADDRESS = 5
# The most addresses replaced in text: a profile holding more is masked by value alone beyond.
_MAX_ADDRESSES = 1_000
# A message as rendered: kept as the customer read it, but for the customer's own addresses.
MESSAGE_FIELDS = frozenset({"subject", "body", "html", "text"})


@dataclass(frozen=True)
class Redactor:
    principal: Principal
    # Longest first, so an address is never half-replaced through a shorter one inside it.
    addresses: tuple[str, ...] = ()

    @classmethod
    def for_customer(
        cls,
        principal: Principal,
        traits: Mapping[str, Any],
        recipients: Iterable[str | None],
        ids: Iterable[str] = (),
    ) -> Redactor:
        """For the customer with ``traits`` and ``ids`` (their id and aliases) whose messages
        went to ``recipients``."""
        if principal.sees_contacts:
            return cls(principal)
        found = set(contact_values(dict(traits)))
        found.update(r for r in recipients if r)
        for value in ids:
            found.update(value[start:stop] for start, stop, _ in contacts_in(value))
        # A webhook channel's URL names no person; shown_address leaves it as it is.
        kept = {a for a in found if len(a) >= _MIN_ADDRESS and shown_address(a, principal) != a}
        longest = sorted(kept, key=len, reverse=True)[:_MAX_ADDRESSES]
        return cls(principal, tuple(longest))

    def address(self, address: str | None) -> str | None:
        return shown_address(address, self.principal)

    def id(self, value: str) -> str:
        """A customer id, alias, workflow id or entry key."""
        return shown_id(value, self.principal)

    def traits(self, traits: dict[str, Any]) -> dict[str, Any]:
        return shown_traits(traits, self.principal)

    def message(self, text: str) -> str:
        """A rendered subject or body: the customer's own addresses masked, nothing else."""
        if self.principal.sees_contacts:
            return text
        for address in self.addresses:
            if address in text:
                text = text.replace(address, shown_address(address, self.principal) or "")
        return text

    def text(self, text: str) -> str:
        """A sentence or reason: the customer's addresses and anything like an address masked."""
        if self.principal.sees_contacts:
            return text
        return mask_contacts_in(self.message(text))

    def value(self, value: Any, *, depth: int = 0) -> Any:
        """A JSON-like value with every string redacted: ``recipient`` keys masked as addresses
        (even one not known beforehand), ``traits`` keys as traits, contact-named keys by name,
        message fields as messages, everything else as text."""
        if self.principal.sees_contacts:
            return value
        if isinstance(value, str):
            return self.text(value)
        if depth >= MAX_DEPTH and isinstance(value, list | dict):
            return f"[hidden: nested deeper than {MAX_DEPTH}]"
        if isinstance(value, list):
            return [self.value(item, depth=depth + 1) for item in value]
        if isinstance(value, dict):
            return {
                self.text(str(key)): self._field(str(key), item, depth)
                for key, item in value.items()
            }
        return value

    def _field(self, key: str, item: Any, depth: int) -> Any:
        if key == "recipient" and isinstance(item, str):
            return self.address(item)
        if key == "traits" and isinstance(item, dict):
            return self.traits(item)
        if key in MESSAGE_FIELDS and isinstance(item, str):
            return self.message(item)
        if is_contact_name(key) and not isinstance(item, dict | list):
            return shown_value(key, item, self.principal)
        return self.value(item, depth=depth + 1)
