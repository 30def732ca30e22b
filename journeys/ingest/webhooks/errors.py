"""Why a webhook or tracking request is refused; the API maps each to its status code."""

from __future__ import annotations


class SignatureMissing(ValueError):
    """The request carries no signature at all (401): not from the provider, or misconfigured."""


class SignatureRejected(ValueError):
    """The signature does not prove the request (403): forged, tampered, stale or wrong key."""


class NotConfigured(RuntimeError):
    """Our side lacks the key or secret to check a request (503): an operator must set it.

    Refusing with a 5xx, rather than accepting unchecked, makes the provider retry until the
    setting is fixed instead of losing the events or letting anyone forge them.
    """
