"""The compliance rules: may a message go out now, later, or not at all?

Pure functions over the facts the check activity reads from the store
(:mod:`journeys.activities.compliance`), so every rule is testable without a database or a clock.
The rules, in the order they apply (docs/delivery.md "Compliance"):

1. An address suppressed for everything (hard bounce, invalid number, SMS STOP) gets nothing.
2. Transactional messages go out; the remaining rules are about marketing.
3. An address suppressed for marketing (unsubscribe, spam complaint) gets no marketing.
4. Channel consent: an opt-out blocks; no record blocks only on opt-in channels (SMS).
5. Subscription group: leaving the group blocks its messages.
6. Quiet hours in the customer's timezone defer the message to the window's end.
7. The frequency cap skips the message (as Braze does: a capped message is not queued).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from journeys.contracts import (
    DEFER,
    MARKETING,
    QUIET_HOURS_PATTERN,
    SEND,
    SKIP,
    SUPPRESSED_EVENT,
    TRANSACTIONAL,
    JourneyEvent,
)
from journeys.settings import Settings
from journeys.vocabulary import ConsentStatus

OPTED_IN = ConsentStatus.OPTED_IN
OPTED_OUT = ConsentStatus.OPTED_OUT

# Suppression reasons, and what each blocks.
HARD_BOUNCE = "hard_bounce"
INVALID_ADDRESS = "invalid_address"
SPAM_COMPLAINT = "spam_complaint"
UNSUBSCRIBE = "unsubscribe"
SCOPE_ALL = "all"
SCOPE_MARKETING = MARKETING

# Channels whose addresses are email addresses, and phone numbers; others are compared as sent.
_EMAIL_CHANNELS = frozenset({"email"})
_PHONE_CHANNELS = frozenset({"sms"})
_NON_DIGITS = re.compile(r"\D")
_UTC = ZoneInfo("UTC")


# --- addresses -------------------------------------------------------------------------------


def normalise_address(channel: str, address: str) -> str:
    """The form an address is compared and hashed in: what a person would call the same address.

    Email: trimmed, Unicode NFC, lower-cased (mailbox providers treat the local part without
    case). Phone: ``+`` and digits only (``00`` becomes ``+``); a number written without its
    country code stays as its digits. Anything else: trimmed.
    """
    text = unicodedata.normalize("NFC", address).strip()
    if channel in _EMAIL_CHANNELS:
        text = text.removeprefix("mailto:").strip()
        return text.lower()
    if channel in _PHONE_CHANNELS:
        text = text.removeprefix("tel:").strip()
        digits = _NON_DIGITS.sub("", text)
        if text.startswith("+"):
            return f"+{digits}"
        if digits.startswith("00"):
            return f"+{digits[2:]}"
        return digits
    return text


def address_hash(channel: str, address: str) -> str:
    """SHA-256 (hex) of the normalised address: the suppression list keeps only this, so erasing
    a customer's profile leaves the suppression in force without keeping the address."""
    return hashlib.sha256(normalise_address(channel, address).encode()).hexdigest()


# --- quiet hours -----------------------------------------------------------------------------


@dataclass(frozen=True)
class QuietHours:
    """A daily window in local time, ``start`` to ``end``; it crosses midnight when end < start."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours | None:
        """``"21:00-08:00"`` → the window; ``""`` (or equal times) → no quiet hours."""
        text = text.strip()
        if not text:
            return None
        if not re.fullmatch(QUIET_HOURS_PATTERN, text):
            raise ValueError(f"quiet hours {text!r}: expected HH:MM-HH:MM, e.g. 21:00-08:00")
        start, end = (time.fromisoformat(part) for part in text.split("-"))
        return None if start == end else cls(start, end)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def until(self, now: datetime, zone: ZoneInfo) -> datetime | None:
        """When the window ``now`` is in ends (UTC), or ``None`` outside quiet hours.

        Windows are instants, not wall times: a window opens at the first moment the local clock
        reads ``start`` and ends at the first moment it reads ``end``. So an end inside a
        spring-forward gap (02:30 on a night that skips from 02:00 to 03:00) ends at the jump,
        and a window that ended before a fall-back hour does not open again when the clock
        repeats that hour.
        """
        today = now.astimezone(zone).date()
        for day in (today - timedelta(days=1), today):
            opens = first_instant(day, self.start, zone)
            end_day = day + timedelta(days=1) if self.end < self.start else day
            closes = first_instant(end_day, self.end, zone)
            if opens <= now < closes:
                return closes
        return None


def first_instant(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """The first moment (UTC) the local clock of ``zone`` reads ``clock`` or later on ``day``."""
    wall = datetime.combine(day, clock)
    first = wall.replace(tzinfo=zone, fold=0)
    if _wall_time(first, zone) == wall:
        return first.astimezone(UTC)  # fold=0 is the first of two readings in a fall-back hour
    # ``wall`` falls in a gap: the clock jumps over it. The jump lies between the two readings
    # of the wall time with the offsets before and after it; find it to the second.
    before = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    after = int(first.timestamp())
    while after - before > 1:
        middle = (before + after) // 2
        if _wall_time(datetime.fromtimestamp(middle, UTC), zone) >= wall:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)


def _wall_time(moment: datetime, zone: ZoneInfo) -> datetime:
    # Through UTC: ``astimezone`` of a datetime already in ``zone`` would return it unchanged.
    return moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None, fold=0)


def timezone_of(name: str | None, default: ZoneInfo) -> ZoneInfo:
    """The customer's zone from their profile, or ``default`` when it is missing or unknown."""
    if not name:
        return default
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        return default


# --- the policy and the decision -------------------------------------------------------------


# Outside env=dev, SMS marketing waits out these hours unless configured otherwise: the TCPA
# allows telemarketing texts from 8:00 to 21:00 in the recipient's local time.
SMS_QUIET_HOURS = "21:00-08:00"


@dataclass(frozen=True)
class Policy:
    """The configured rules (settings ``consent_*``, ``quiet_hours*``, ``frequency_cap*``)."""

    opt_in_channels: frozenset[str]
    default_timezone: ZoneInfo
    quiet_hours: QuietHours | None
    frequency_cap: int
    frequency_window: timedelta
    cap_per_channel: bool
    # Channels with quiet hours of their own (None: none on that channel), over ``quiet_hours``.
    channel_quiet_hours: Mapping[str, QuietHours | None] = field(default_factory=dict)

    def quiet_hours_of(self, channel: str) -> QuietHours | None:
        """The configured window of a send on ``channel`` (a send step may set its own)."""
        return self.channel_quiet_hours.get(channel, self.quiet_hours)

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        """Refuses settings that cannot work (an unknown zone, a malformed window) at start-up.

        Defaults outside ``env=dev`` (docs/delivery.md "Compliance defaults"): SMS marketing
        needs an opt-in, and waits out 21:00-08:00 local time unless ``quiet_hours`` or
        ``quiet_hours_by_channel`` says otherwise. In dev neither, so a local stack sends at
        once without consent records.
        """
        production = settings.env != "dev"
        opt_in = settings.consent_opt_in_channels
        if opt_in is None:
            opt_in = ["sms"] if production else []
        by_channel = settings.quiet_hours_by_channel
        if by_channel is None:
            by_channel = {"sms": SMS_QUIET_HOURS} if production and not settings.quiet_hours else {}
        try:
            zone = ZoneInfo(settings.default_timezone)
        except (ValueError, KeyError) as err:
            raise ValueError(
                f"JOURNEYS_DEFAULT_TIMEZONE: unknown time zone {settings.default_timezone!r}"
            ) from err
        try:
            window = QuietHours.parse(settings.quiet_hours)
        except ValueError as err:
            raise ValueError(f"JOURNEYS_QUIET_HOURS: {err}") from err
        channel_windows: dict[str, QuietHours | None] = {}
        for channel, text in by_channel.items():
            try:
                channel_windows[channel] = QuietHours.parse(text)
            except ValueError as err:
                raise ValueError(f"JOURNEYS_QUIET_HOURS_BY_CHANNEL[{channel!r}]: {err}") from err
        return cls(
            opt_in_channels=frozenset(opt_in),
            default_timezone=zone,
            quiet_hours=window,
            frequency_cap=settings.frequency_cap,
            frequency_window=timedelta(hours=settings.frequency_cap_window_hours),
            cap_per_channel=settings.frequency_cap_per_channel,
            channel_quiet_hours=channel_windows,
        )


@dataclass(frozen=True)
class SuppressionHit:
    reason: str
    scope: str


@dataclass(frozen=True)
class Facts:
    """What the store knows that bears on one send."""

    channel: str
    category: str
    group: str | None = None
    channel_consent: ConsentStatus | None = None
    group_consent: ConsentStatus | None = None
    suppressions: tuple[SuppressionHit, ...] = ()
    timezone: ZoneInfo = _UTC
    quiet_hours: QuietHours | None = None
    # True after a quiet-hours deferral was waited out: the window is not applied again.
    quiet_hours_served: bool = False
    # Marketing messages already sent to the customer inside the cap's window.
    recent_marketing: int = 0


@dataclass(frozen=True)
class Verdict:
    action: str
    code: str
    reason: str
    until: datetime | None = None


def decide(facts: Facts, policy: Policy, now: datetime) -> Verdict:
    """Apply the rules of the module docstring, in order; the first that objects decides."""
    channel = facts.channel
    if facts.category not in (MARKETING, TRANSACTIONAL):
        raise ValueError(f"unknown message category {facts.category!r}")
    blocking = [s for s in facts.suppressions if s.scope == SCOPE_ALL]
    if blocking:
        return _skip("suppressed", f"{channel} address suppressed ({_reasons(blocking)})")
    if facts.category == TRANSACTIONAL:
        return Verdict(SEND, "transactional", "transactional message: marketing rules exempt")
    if facts.suppressions:
        return _skip("suppressed", f"{channel} address suppressed ({_reasons(facts.suppressions)})")
    if facts.channel_consent == OPTED_OUT:
        return _skip("opted_out", f"customer opted out of {channel} marketing")
    if facts.channel_consent != OPTED_IN and channel in policy.opt_in_channels:
        return _skip("no_opt_in", f"no {channel} marketing opt-in ({channel} marketing needs one)")
    if facts.group is not None and facts.group_consent == OPTED_OUT:
        return _skip("group_opted_out", f"customer left the subscription group {facts.group!r}")
    if facts.quiet_hours is not None and not facts.quiet_hours_served:
        until = facts.quiet_hours.until(now, facts.timezone)
        if until is not None:
            local = until.astimezone(facts.timezone)
            return Verdict(
                DEFER,
                "quiet_hours",
                f"quiet hours {facts.quiet_hours} in {facts.timezone.key}: deferred until "
                f"{local.isoformat()}",
                until,
            )
    cap = policy.frequency_cap
    if cap and facts.recent_marketing >= cap:
        scope = f"{channel} " if policy.cap_per_channel else ""
        return _skip(
            "frequency_cap",
            f"frequency cap: {facts.recent_marketing} {scope}marketing messages in the last "
            f"{_hours(policy.frequency_window)} (at most {cap})",
        )
    return Verdict(SEND, "allowed", "allowed")


def _skip(code: str, reason: str) -> Verdict:
    return Verdict(SKIP, code, reason)


def _reasons(hits: Iterable[SuppressionHit]) -> str:
    return ", ".join(sorted({h.reason.replace("_", " ") for h in hits}))


def _hours(window: timedelta) -> str:
    hours = window.total_seconds() / 3600
    return f"{hours:g} h"


# --- ending marketing journeys ---------------------------------------------------------------


def suppressed_event(source: JourneyEvent, reasons: Iterable[str]) -> JourneyEvent:
    """The ``Suppressed`` signal for the customer's running journeys after ``source`` (an
    unsubscribe, a spam complaint, a hard bounce). Its messageId derives from the source's, so a
    redelivered source event signals nothing twice."""
    return JourneyEvent(
        name=SUPPRESSED_EVENT,
        message_id=f"suppressed:{source.message_id}",
        customer_id=source.customer_id,
        timestamp=source.timestamp,
        properties={"source_event": source.name, "reasons": sorted(set(reasons))},
    )
