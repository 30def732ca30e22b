"""The compliance rules alone: address hashing, quiet hours across midnight and DST, the order of
the rules, and the policy the settings make."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from journeys.contracts import (
    DEFER,
    MARKETING,
    SEND,
    SKIP,
    SUPPRESSED_EVENT,
    TRANSACTIONAL,
    JourneyEvent,
)
from journeys.delivery.compliance import (
    HARD_BOUNCE,
    OPTED_IN,
    OPTED_OUT,
    SCOPE_ALL,
    SCOPE_MARKETING,
    SPAM_COMPLAINT,
    UNSUBSCRIBE,
    Facts,
    Policy,
    QuietHours,
    SuppressionHit,
    address_hash,
    decide,
    first_instant,
    normalise_address,
    suppressed_event,
    timezone_of,
)
from journeys.workflows.dsl import JourneyError
from journeys.workflows.sends import _quiet_hours_arg
from tests.conftest import make_settings

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
NIGHT = QuietHours(time(21), time(8))


def at(zone: ZoneInfo, *fields: int, fold: int = 0) -> datetime:
    """A local wall time in ``zone`` as the UTC instant it is."""
    return datetime(*fields, tzinfo=zone, fold=fold).astimezone(UTC)  # type: ignore[arg-type,misc]


# --- addresses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "written", "normal"),
    [
        ("email", "  Ada.Lovelace@Example.COM ", "ada.lovelace@example.com"),
        ("email", "mailto:ada@example.com", "ada@example.com"),
        ("sms", "+1 (555) 000-0001", "+15550000001"),
        ("sms", "tel:+1-555-000-0001", "+15550000001"),
        ("sms", "001 555 000 0001", "+15550000001"),
        ("sms", "555.000.0001", "5550000001"),
        ("webhook", " https://hooks.example.com/A ", "https://hooks.example.com/A"),
    ],
)
def test_addresses_are_normalised_before_hashing(channel: str, written: str, normal: str) -> None:
    assert normalise_address(channel, written) == normal
    assert address_hash(channel, written) == hashlib.sha256(normal.encode()).hexdigest()


def test_one_address_written_two_ways_has_one_hash_and_others_differ() -> None:
    assert address_hash("email", "ADA@example.com") == address_hash("email", "ada@example.com ")
    assert address_hash("email", "ada@example.com") != address_hash("email", "ada@example.org")
    # Composed and decomposed accents are the same address.
    assert address_hash("email", "jos\u00e9@example.com") == address_hash(
        "email", "jose\u0301@example.com"
    )
    assert len(address_hash("sms", "+15550000001")) == 64


# --- quiet hours -----------------------------------------------------------------------------


def test_quiet_hours_parse() -> None:
    assert QuietHours.parse("21:00-08:00") == NIGHT
    assert str(QuietHours.parse(" 22:30-07:15 ")) == "22:30-07:15"
    assert QuietHours.parse("") is None
    assert QuietHours.parse("08:00-08:00") is None  # an empty window
    for wrong in ("21:00", "24:00-08:00", "21:00-8:00", "9pm-8am", "21:00 - 08:00"):
        with pytest.raises(ValueError, match="HH:MM-HH:MM"):
            QuietHours.parse(wrong)


@pytest.mark.parametrize(
    ("local", "opens"),
    [
        ((2026, 6, 10, 22, 30), (2026, 6, 11, 8, 0)),  # evening: the next morning
        ((2026, 6, 11, 0, 5), (2026, 6, 11, 8, 0)),  # after midnight: this morning
        ((2026, 6, 11, 7, 59), (2026, 6, 11, 8, 0)),
        ((2026, 6, 10, 21, 0), (2026, 6, 11, 8, 0)),  # the start belongs to the window
        ((2026, 6, 11, 8, 0), None),  # the end does not
        ((2026, 6, 10, 20, 59), None),
        ((2026, 6, 10, 12, 0), None),
    ],
)
def test_a_window_crossing_midnight(local: tuple[int, ...], opens: tuple[int, ...] | None) -> None:
    expected = at(PARIS, *opens) if opens else None
    assert NIGHT.until(at(PARIS, *local), PARIS) == expected


def test_a_window_within_one_day() -> None:
    lunch = QuietHours(time(12), time(14))
    assert lunch.until(at(PARIS, 2026, 6, 10, 13, 0), PARIS) == at(PARIS, 2026, 6, 10, 14, 0)
    assert lunch.until(at(PARIS, 2026, 6, 10, 14, 0), PARIS) is None
    assert lunch.until(at(PARIS, 2026, 6, 10, 11, 59), PARIS) is None
    assert lunch.until(at(PARIS, 2026, 6, 10, 23, 0), PARIS) is None


def test_the_window_is_local_to_the_customer() -> None:
    now = datetime(2026, 6, 10, 23, 0, tzinfo=UTC)  # 01:00 in Paris, 19:00 in New York
    assert NIGHT.until(now, PARIS) == at(PARIS, 2026, 6, 11, 8, 0)
    assert NIGHT.until(now, NEW_YORK) is None


def test_spring_forward_night_ends_at_local_eight_after_a_shorter_night() -> None:
    # New York skips 02:00-03:00 on 2026-03-08: 01:00 EST to 08:00 EDT is six hours, not seven.
    now = at(NEW_YORK, 2026, 3, 8, 1, 0)
    opens = NIGHT.until(now, NEW_YORK)
    assert opens == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
    assert opens - now == timedelta(hours=6)
    assert opens is not None and opens.astimezone(NEW_YORK).hour == 8


def test_a_window_ending_inside_the_spring_forward_gap_ends_at_the_jump() -> None:
    # 02:30 does not exist on 2026-03-08 in New York: the clock reads 03:00 EDT at 07:00 UTC.
    window = QuietHours(time(21), time(2, 30))
    assert window.until(at(NEW_YORK, 2026, 3, 8, 1, 30), NEW_YORK) == datetime(
        2026, 3, 8, 7, 0, tzinfo=UTC
    )
    assert first_instant(date(2026, 3, 29), time(2, 30), PARIS) == datetime(
        2026, 3, 29, 1, 0, tzinfo=UTC
    )
    # A window starting in the gap starts at the jump too.
    late = QuietHours(time(2, 30), time(6))
    assert late.until(at(NEW_YORK, 2026, 3, 8, 3, 0), NEW_YORK) == at(NEW_YORK, 2026, 3, 8, 6, 0)
    assert late.until(at(NEW_YORK, 2026, 3, 8, 1, 59), NEW_YORK) is None


def test_fall_back_ends_at_the_first_reading_and_does_not_reopen() -> None:
    # New York repeats 01:00-02:00 on 2026-11-01 (EDT, then EST).
    window = QuietHours(time(21), time(1, 30))
    first_0130 = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    assert window.until(at(NEW_YORK, 2026, 11, 1, 1, 15), NEW_YORK) == first_0130
    # 01:15 EST, an hour later by the clock's second reading: the window closed already.
    assert window.until(at(NEW_YORK, 2026, 11, 1, 1, 15, fold=1), NEW_YORK) is None
    # A full night across fall-back lasts an hour longer: 21:00 EDT to 08:00 EST is 12 h.
    start = at(NEW_YORK, 2026, 10, 31, 21, 0)
    assert NIGHT.until(start, NEW_YORK) == start + timedelta(hours=12)


def test_unknown_or_missing_zones_fall_back_to_the_default() -> None:
    assert timezone_of("Asia/Tokyo", PARIS) == ZoneInfo("Asia/Tokyo")
    for wrong in (None, "", "Mars/Olympus", "../../etc/passwd"):
        assert timezone_of(wrong, PARIS) == PARIS


# --- the rules, in order ---------------------------------------------------------------------

POLICY = Policy(
    opt_in_channels=frozenset({"sms"}),
    default_timezone=ZoneInfo("UTC"),
    quiet_hours=None,
    frequency_cap=3,
    frequency_window=timedelta(hours=24),
    cap_per_channel=False,
)
NOON = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
BOUNCED = SuppressionHit(HARD_BOUNCE, SCOPE_ALL)
UNSUBSCRIBED = SuppressionHit(UNSUBSCRIBE, SCOPE_MARKETING)


def rule(**facts: object) -> tuple[str, str]:
    values: dict[str, object] = {"channel": "email", "category": MARKETING, **facts}
    verdict = decide(Facts(**values), POLICY, NOON)  # type: ignore[arg-type]
    return verdict.action, verdict.code


def test_a_hard_bounce_blocks_every_message() -> None:
    for category in (MARKETING, TRANSACTIONAL):
        verdict = decide(
            Facts("email", category, suppressions=(BOUNCED, UNSUBSCRIBED)), POLICY, NOON
        )
        assert (verdict.action, verdict.code) == (SKIP, "suppressed")
        assert verdict.reason == "email address suppressed (hard bounce)"


def test_transactional_messages_ignore_marketing_rules() -> None:
    assert rule(
        category=TRANSACTIONAL,
        channel="sms",
        channel_consent=OPTED_OUT,
        group="newsletter",
        group_consent=OPTED_OUT,
        suppressions=(SuppressionHit(SPAM_COMPLAINT, SCOPE_MARKETING),),
        quiet_hours=QuietHours(time(0), time(23, 59)),
        recent_marketing=10,
    ) == (SEND, "transactional")


def test_marketing_rules_in_order() -> None:
    assert rule(suppressions=(UNSUBSCRIBED,), channel_consent=OPTED_IN) == (SKIP, "suppressed")
    assert rule(channel_consent=OPTED_OUT) == (SKIP, "opted_out")
    # Email is an opt-out channel, SMS an opt-in one.
    assert rule() == (SEND, "allowed")
    assert rule(channel="sms") == (SKIP, "no_opt_in")
    assert rule(channel="sms", channel_consent=OPTED_IN) == (SEND, "allowed")
    assert rule(group="newsletter", group_consent=OPTED_OUT) == (SKIP, "group_opted_out")
    assert rule(group="newsletter", group_consent=OPTED_IN) == (SEND, "allowed")
    assert rule(group="newsletter") == (SEND, "allowed")
    assert rule(recent_marketing=2) == (SEND, "allowed")
    assert rule(recent_marketing=3) == (SKIP, "frequency_cap")


def test_quiet_hours_defer_until_the_window_ends_then_the_cap_is_checked() -> None:
    night = Facts(
        "email",
        MARKETING,
        timezone=PARIS,
        quiet_hours=QuietHours(time(13), time(15)),  # 14:00 in Paris at NOON UTC
        recent_marketing=5,
    )
    verdict = decide(night, POLICY, NOON)
    assert (verdict.action, verdict.code) == (DEFER, "quiet_hours")
    assert verdict.until == at(PARIS, 2026, 6, 10, 15, 0)
    assert verdict.reason == (
        "quiet hours 13:00-15:00 in Europe/Paris: deferred until 2026-06-10T15:00:00+02:00"
    )
    # Once waited out, the window is not applied again, but the other rules are.
    served = replace(night, quiet_hours_served=True)
    assert decide(served, POLICY, NOON).code == "frequency_cap"


def test_the_cap_reason_says_what_was_counted() -> None:
    verdict = decide(
        Facts("sms", MARKETING, channel_consent=OPTED_IN, recent_marketing=3), POLICY, NOON
    )
    assert verdict.reason == "frequency cap: 3 marketing messages in the last 24 h (at most 3)"
    per_channel = replace(POLICY, cap_per_channel=True, frequency_cap=0)
    assert decide(Facts("email", MARKETING, recent_marketing=99), per_channel, NOON).action == SEND


# --- policy from settings, the DSL's argument, the exit event --------------------------------


def test_policy_from_settings(tmp_path: Path) -> None:
    dev = Policy.from_settings(make_settings(tmp_path))
    assert dev.opt_in_channels == frozenset() and dev.quiet_hours is None
    assert dev.frequency_cap == 0
    production = Policy.from_settings(
        make_settings(
            tmp_path,
            env="production",
            quiet_hours="21:00-08:00",
            default_timezone="Europe/Paris",
            frequency_cap=3,
        )
    )
    assert production.opt_in_channels == frozenset({"sms"})
    assert (production.quiet_hours, production.default_timezone) == (NIGHT, PARIS)
    explicit = Policy.from_settings(make_settings(tmp_path, consent_opt_in_channels=["sms", "x"]))
    assert explicit.opt_in_channels == frozenset({"sms", "x"})
    with pytest.raises(ValueError, match="JOURNEYS_DEFAULT_TIMEZONE"):
        Policy.from_settings(make_settings(tmp_path, default_timezone="Europe/Atlantis"))
    with pytest.raises(ValueError, match="JOURNEYS_QUIET_HOURS"):
        Policy.from_settings(make_settings(tmp_path, quiet_hours="9pm-8am"))


def test_outside_dev_sms_marketing_has_quiet_hours_by_default(tmp_path: Path) -> None:
    """The TCPA's 8:00-21:00 local time for marketing texts; email is not held back."""
    dev = Policy.from_settings(make_settings(tmp_path))
    assert [dev.quiet_hours_of(c) for c in ("sms", "email")] == [None, None]

    production = Policy.from_settings(make_settings(tmp_path, env="production"))
    assert [production.quiet_hours_of(c) for c in ("sms", "email", "push")] == [NIGHT, None, None]
    assert production.frequency_cap == 0  # no default cap: docs/delivery.md says why

    # A window for every channel replaces the default; so does one set per channel.
    everywhere = Policy.from_settings(
        make_settings(tmp_path, env="production", quiet_hours="22:00-07:00")
    )
    late = QuietHours(time(22), time(7))
    assert [everywhere.quiet_hours_of(c) for c in ("sms", "email")] == [late, late]
    own = Policy.from_settings(
        make_settings(
            tmp_path,
            env="production",
            quiet_hours="22:00-07:00",
            quiet_hours_by_channel={"sms": "20:00-08:00", "push": ""},
        )
    )
    assert own.quiet_hours_of("sms") == QuietHours(time(20), time(8))
    assert (own.quiet_hours_of("push"), own.quiet_hours_of("email")) == (None, late)
    off = Policy.from_settings(make_settings(tmp_path, env="production", quiet_hours_by_channel={}))
    assert off.quiet_hours_of("sms") is None
    with pytest.raises(ValueError, match=r"JOURNEYS_QUIET_HOURS_BY_CHANNEL\['sms'\]"):
        Policy.from_settings(make_settings(tmp_path, quiet_hours_by_channel={"sms": "9pm"}))


def test_the_send_steps_quiet_hours_argument() -> None:
    assert _quiet_hours_arg("s", None) is None
    assert _quiet_hours_arg("s", True) is None
    assert _quiet_hours_arg("s", False) == ""
    assert _quiet_hours_arg("s", "22:00-07:00") == "22:00-07:00"
    with pytest.raises(JourneyError, match="step 'sms:promo': quiet_hours '10pm'"):
        _quiet_hours_arg("sms:promo", "10pm")


def test_the_suppressed_event_is_deterministic_per_source() -> None:
    source = JourneyEvent("Unsubscribed", "m-1", "c1", NOON, {"channel": "email"})
    event = suppressed_event(source, ["unsubscribe", "email opt-out", "unsubscribe"])
    assert (event.name, event.message_id, event.customer_id) == (
        SUPPRESSED_EVENT,
        "suppressed:m-1",
        "c1",
    )
    assert event.properties == {
        "source_event": "Unsubscribed",
        "reasons": ["email opt-out", "unsubscribe"],
    }
    assert suppressed_event(source, ["unsubscribe"]).message_id == event.message_id
