"""How a failed delivery is classified, so the send activity knows whether to try again.

Providers raise exactly two kinds of error. A ``RetryableDeliveryError`` is a failure that may
pass (a timeout, a refused connection, HTTP 429 or 5xx, an SMTP 4xx reply): the activity lets
Temporal retry it with backoff, honouring ``retry_after`` when the provider named a delay. A
``PermanentDeliveryError`` will fail the same way every time (an invalid phone number, a hard
bounce, a refused webhook target): the delivery is recorded as failed with its ``kind`` and never
retried, because retrying would only repeat the refusal.
"""

from __future__ import annotations

from typing import Literal

# Why a delivery can never succeed as it is; stored with the failed delivery so support and
# suppression logic can tell a bad address from a misconfigured provider.
PermanentKind = Literal[
    # The recipient address itself is wrong (Twilio 21211/21614, a malformed email address).
    "invalid_address",
    # The receiving mail server refused the mailbox (SMTP 5xx on RCPT, e.g. 550).
    "hard_bounce",
    # The recipient opted out at the provider (Twilio 21610, STOP).
    "unsubscribed",
    # The address is valid but cannot be reached on this channel (landline, blocked region).
    "unreachable",
    # A webhook URL that points into a private network, or at a scheme we do not speak.
    "refused_target",
    # The provider refused our credentials (HTTP 401/403, SMTP 535): an operator must act.
    "unauthorized",
    # The message cannot be sent as rendered (no body for an SMS, a header with a line break).
    "invalid_message",
    # Any other refusal the provider told us not to repeat (other 4xx, SMTP 5xx on DATA).
    "rejected",
]


class DeliveryError(Exception):
    """Base of both kinds; ``reason`` is a sentence for the delivery row and the audit trail."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RetryableDeliveryError(DeliveryError):
    """The provider may accept the same message later; ``retry_after`` is its hint in seconds."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments: tell pickle and copy how to rebuild the error.
        return (_retryable, (self.reason, self.retry_after))


class PermanentDeliveryError(DeliveryError):
    """The same message will always be refused; ``kind`` says why in one word."""

    def __init__(self, reason: str, *, kind: PermanentKind) -> None:
        super().__init__(reason)
        self.kind: PermanentKind = kind

    def __reduce__(self) -> tuple[object, ...]:
        return (_permanent, (self.reason, self.kind))


def _retryable(reason: str, retry_after: float | None) -> RetryableDeliveryError:
    return RetryableDeliveryError(reason, retry_after=retry_after)


def _permanent(reason: str, kind: PermanentKind) -> PermanentDeliveryError:
    return PermanentDeliveryError(reason, kind=kind)
