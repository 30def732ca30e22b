"""Opaque references to customers whose ids are contact details, so masked pages still link.

A customer whose id is ``ada@example.com`` is shown to support as ``a**@example.com``; a link
to their timeline cannot carry the id itself (it would show in the address bar, the browser's
history and every proxy log), nor the masked form (which names no one). So links carry a
reference instead: ``cref_`` and the id encrypted with AES-SIV under a key derived from
``JOURNEYS_CONSOLE_SECRET``. The same id always gives the same reference (links are stable and
comparable); it cannot be read or forged without the secret. Every route that takes a customer
id takes a reference too and resolves it first (:func:`resolve`).

An id holding no email address or phone number is its own reference: ``c-123`` stays
``c-123`` in links, as it does on the page. Without a usable secret (unset or under 16
characters: dev only, since the API refuses to start without one elsewhere), a random key of
this process makes the references, valid until it stops.
"""

from __future__ import annotations

import base64
import binascii
import os
from functools import lru_cache
from typing import Annotated

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fastapi import Path

from api.auth import Principal
from api.contacts.masking import looks_like_contact
from api.params import NO_NUL
from journeys.secret_checks import InsecureSettings, usable_secret
from journeys.settings import Settings

PREFIX = "cref_"
# An id of up to 200 characters (the longest a path takes) makes a reference of up to 294.
MAX_REF_LENGTH = 300

# A customer in a path: any of their ids, or the reference a masked answer gave.
CustomerIdOrRef = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_REF_LENGTH,
        pattern=NO_NUL,
        description="Any id of the customer, or the `customer_ref` (`cref_...`) an answer gave",
    ),
]
_PROCESS_KEY = os.urandom(64)


def linked_id(settings: Settings, principal: Principal, customer_id: str) -> str:
    """What a link to ``customer_id`` carries for ``principal``: the id itself when they see
    contacts or it holds none, else its reference."""
    if principal.sees_contacts or not looks_like_contact(customer_id):
        return customer_id
    return customer_ref(settings, customer_id)


def customer_ref(settings: Settings, customer_id: str) -> str:
    sealed = _cipher(_secret(settings)).encrypt(customer_id.encode(), None)
    return PREFIX + base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def resolve(settings: Settings, value: str) -> str:
    """The customer id ``value`` refers to: the id a reference seals, else ``value`` itself
    (an id that merely starts with ``cref_`` is taken as an id)."""
    if not value.startswith(PREFIX) or len(value) > MAX_REF_LENGTH:
        return value
    encoded = value[len(PREFIX) :]
    try:
        sealed = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        return _cipher(_secret(settings)).decrypt(sealed, None).decode()
    except (binascii.Error, ValueError, InvalidTag, UnicodeDecodeError):
        return value


def _secret(settings: Settings) -> bytes:
    """The console secret; empty when it is unfit (dev only: the API does not start without a
    fit one elsewhere), so references fall back to a key of this process."""
    try:
        return usable_secret(settings, "console_secret")
    except InsecureSettings:
        return b""


@lru_cache(maxsize=8)
def _cipher(secret: bytes) -> AESSIV:
    if not secret:
        return AESSIV(_PROCESS_KEY)
    hkdf = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=b"journeys customer refs")
    return AESSIV(hkdf.derive(secret))
