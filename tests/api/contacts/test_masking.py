"""Contact details masked for the roles that do not need them (api/contacts/masking.py)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from api.auth import Principal
from api.contacts.customer_refs import PREFIX, customer_ref, linked_id, resolve
from api.contacts.masking import (
    MAX_CHARS,
    MAX_DEPTH,
    MAX_TEXT,
    MAX_VALUES,
    is_contact_name,
    mask_contacts_in,
    mask_email,
    mask_phone,
    shown_address,
    shown_id,
    shown_traits,
)
from api.contacts.redaction import Redactor
from journeys.settings import Settings
from journeys.store.api_keys import Role


def principal(role: Role) -> Principal:
    return Principal(key_id="k1", name=f"a {role}", role=role)


ADMIN, EDITOR, SUPPORT = principal("admin"), principal("editor"), principal("support")


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("ada@example.com", "a**@example.com"),
        ("grace.hopper@navy.mil", "g***********@navy.mil"),
        ("al@example.com", "**@example.com"),
        ("a@example.com", "*@example.com"),
        ("odd@name@example.com", "o*******@example.com"),
        ("not-an-address", "n*************"),
    ],
)
def test_mask_email_keeps_the_first_character_and_the_domain(address: str, masked: str) -> None:
    assert mask_email(address) == masked


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+15550001111", "+1******1111"),
        ("+1 (555) 000-1111", "+1 (***) ***-1111"),
        ("+447700900123", "+4*******0123"),
        ("5550001111", "******1111"),
        ("+3361234", "+3****34"),
        ("+33612345", "+3****345"),
        ("12345", "***45"),
        ("1234", "****"),
    ],
)
def test_mask_phone_keeps_the_plus_country_digit_and_last_digits(number: str, masked: str) -> None:
    assert mask_phone(number) == masked
    assert len(mask_phone(number)) == len(number), "the shape is kept, character for character"


def test_shown_address_is_whole_for_those_who_see_contacts_only() -> None:
    assert ADMIN.sees_contacts and not EDITOR.sees_contacts and not SUPPORT.sees_contacts
    assert shown_address("ada@example.com", ADMIN) == "ada@example.com"
    assert shown_address("+15550001111", ADMIN) == "+15550001111"
    for reader in (EDITOR, SUPPORT):
        assert shown_address("ada@example.com", reader) == "a**@example.com"
        assert shown_address("+15550001111", reader) == "+1******1111"
        assert shown_address("+1 555 000 1111", reader) == "+1 *** *** 1111"


def test_shown_address_by_shape() -> None:
    # A webhook channel's endpoint names no person: shown as it is, credentials and all being
    # the operator's own configuration.
    url = "https://hooks.example.com/journeys?token=abc"
    assert shown_address(url, SUPPORT) == url
    assert shown_address(None, SUPPORT) is None
    assert shown_address("device-token-42", SUPPORT) == "d" + "*" * 14


TRAITS: dict[str, Any] = {
    "first_name": "Ada",
    "email": "ada@example.com",
    "phone": "+15550001111",
    "work_email": "ada@engine.example",
    "Mobile_Phone": "+447700900123",
    "emails_sent": 4,
    "phone_verified": True,
    "plan": {"name": "pro", "billing_email": "billing@example.com"},
    "backup_phone": ["+15550002222", None],
    "fax_phone": 15550003333,
    "unsubscribed_email": None,
}


def test_shown_traits_masks_contact_traits_for_support() -> None:
    shown = shown_traits(TRAITS, SUPPORT)

    assert shown == {
        "first_name": "Ada",
        "email": "a**@example.com",
        "phone": "+1******1111",
        "work_email": "a**@engine.example",
        "Mobile_Phone": "+4*******0123",
        "emails_sent": 4,
        "phone_verified": True,
        "plan": {"name": "pro", "billing_email": "b******@example.com"},
        "backup_phone": ["+1******2222", None],
        "fax_phone": "*******3333",
        "unsubscribed_email": None,
    }
    assert TRAITS["email"] == "ada@example.com", "the caller's dict is left alone"


def test_shown_traits_are_whole_for_admins() -> None:
    assert shown_traits(TRAITS, ADMIN) == TRAITS


@pytest.mark.parametrize(
    "name",
    [
        "phone_number",
        "phoneNumber",
        "PHONE-NUMBER",
        "mobile",
        "Mobile_Phone",
        "mobile_no",
        "emailAddress",
        "email_address",
        "workEmail",
        "contact.tel",
        "billing.e-mail",
        "E_Mail",
        "fax",
        "telephone",
        "emails",
    ],
)
def test_contact_names_are_recognised_whatever_their_case_and_separators(name: str) -> None:
    assert is_contact_name(name)


@pytest.mark.parametrize(
    "name",
    ["phone_verified", "emails_sent", "userId", "telemetry", "hotel", "plan", "email_opt_in"],
)
def test_names_that_only_mention_a_channel_are_not_contacts(name: str) -> None:
    assert not is_contact_name(name)


def test_the_probers_traits_are_masked_by_name_and_by_value_at_any_depth() -> None:
    traits = {
        "phone_number": "+1 555 000 0002",
        "mobile": "07700 900123",
        "emailAddress": "ada@work.example",
        "email_address": "ada@home.example",
        "workEmail": "lovelace@engine.example",
        "contact.tel": "+33 6 12 34 56 78",
        "contact": {"tel": "020 7946 0958", "fax": 5550003333},
        "billing.e-mail": "billing@ada.example",
        "userId": "grace@example.com",
        "friends": [{"who": "Grace", "reach": ["+44 20 7946 0000", "grace@navy.mil"]}],
        "note": "call +1 (555) 000-4444 or write ada@backup.net.",
        "ada@keys.example": "a key that is an address",
    }

    assert shown_traits(traits, SUPPORT) == {
        "phone_number": "+1 *** *** 0002",
        "mobile": "***** **0123",
        "emailAddress": "a**@work.example",
        "email_address": "a**@home.example",
        "workEmail": "l*******@engine.example",
        "contact.tel": "+3* * ** ** 56 78",
        "contact": {"tel": "*** **** 0958", "fax": "******3333"},
        "billing.e-mail": "b******@ada.example",
        "userId": "g****@example.com",
        "friends": [{"who": "Grace", "reach": ["+4* ** **** 0000", "g****@navy.mil"]}],
        "note": "call +1 (***) ***-4444 or write a**@backup.net.",
        "a**@keys.example": "a key that is an address",
    }
    assert shown_traits(traits, ADMIN) == traits


@pytest.mark.parametrize(
    "value",
    [
        "5550001111",  # digits alone: an id, an order number, a total
        "2026-11-23",
        "2026-11-23T10:00:00Z",
        "23/11/2026",
        "12345.67",
        "1,234.56",
        "75008",
        "v1.2.3",
        "0b7c2a4e-52c1-4d4f-9f0e-6d8a1d0f9c11",
        "12345678-1234-5678-1234-567812345678",
        "+1 555",  # too few digits for a phone number
        "a@b",  # no domain with a dot
        "Cart Abandoned",
    ],
)
def test_ordinary_values_are_not_taken_for_contact_details(value: str) -> None:
    assert mask_contacts_in(value) == value
    assert shown_traits({"value": value}, SUPPORT) == {"value": value}


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("ada@example.com", "a**@example.com"),
        ("+15550001111", "+1******1111"),
        ("journey/welcome/ada@example.com", "journey/welcome/a**@example.com"),
        ("journey/welcome/+15550001111/k1", "journey/welcome/+1******1111/k1"),
        ("email=ada.b+x@example.com", "email=a******@example.com"),
        ("555-000-1111", "***-***-1111"),
        ("c-123", "c-123"),
    ],
)
def test_ids_are_masked_where_they_hold_contact_details(value: str, masked: str) -> None:
    assert shown_id(value, SUPPORT) == masked
    assert shown_id(value, ADMIN) == value


def test_masking_a_huge_or_deep_profile_is_bounded_and_shows_nothing_unmasked() -> None:
    deep: dict[str, Any] = {"email": "deep@example.com"}
    for _ in range(MAX_DEPTH + 5):
        deep = {"next": deep}
    wide = {f"k{i}": f"user{i}@example.com" for i in range(MAX_VALUES * 4)}
    long_text = "x" * MAX_TEXT + " ada@example.com"
    # The slowest strings to search, each just short enough to be searched.
    hostile = ["@" * (MAX_TEXT - 1), "1-" * (MAX_TEXT // 2 - 1), ("a" * 63 + "@") * 150]
    slow = [hostile[i % 3] for i in range(MAX_VALUES)] + ["last@example.com"]

    started = time.perf_counter()
    shown = shown_traits({"deep": deep, "long": long_text, "slow": slow, "wide": wide}, SUPPORT)
    elapsed = time.perf_counter() - started

    assert elapsed < 2.0, f"masking took {elapsed:.2f}s"
    flat = repr(shown)
    for address in ("deep@", "ada@", "last@", "user"):
        assert address not in flat
    assert f"[hidden: nested deeper than {MAX_DEPTH}]" in flat
    assert f"[hidden: more than {MAX_VALUES} values]" in flat
    assert f"[hidden: more than {MAX_CHARS} characters in all]" in flat
    assert shown["long"] == f"[hidden: {len(long_text)} characters, too long to mask]"


def test_a_redactor_masks_the_customers_addresses_in_messages_and_anything_in_sentences() -> None:
    traits = {"workEmail": "ada@work.example", "contact": {"tel": "020 7946 0958"}}
    redactor = Redactor.for_customer(SUPPORT, traits, ["+15550001111"], ["ada@id.example"])

    body = "Hi, we sent this to ada@work.example; questions? help@shop.example or 020 7946 0958"
    assert redactor.message(body) == (
        "Hi, we sent this to a**@work.example; questions? help@shop.example or *** **** 0958"
    ), "a message keeps the shop's own address: support reads what the customer read"
    assert redactor.text("entered as ada@id.example, other grace@example.com") == (
        "entered as a**@id.example, other g****@example.com"
    )
    assert redactor.value({"to": {"mobilePhone": "5550002222"}, "html": "<p>ada@work.example"}) == {
        "to": {"mobilePhone": "******2222"},
        "html": "<p>a**@work.example",
    }


SETTINGS = Settings(console_secret="a-console-secret-of-32-characters")


def test_references_carry_a_masked_id_through_links_and_back() -> None:
    ref = customer_ref(SETTINGS, "ada@example.com")

    assert ref.startswith(PREFIX) and "ada" not in ref and "example" not in ref
    assert ref == customer_ref(SETTINGS, "ada@example.com"), "stable: one customer, one link"
    assert resolve(SETTINGS, ref) == "ada@example.com"
    assert linked_id(SETTINGS, SUPPORT, "ada@example.com") == ref
    assert linked_id(SETTINGS, SUPPORT, "c-123") == "c-123", "an id naming no one is its own"
    assert linked_id(SETTINGS, ADMIN, "ada@example.com") == "ada@example.com"


def test_a_reference_cannot_be_read_or_forged_without_the_secret() -> None:
    ref = customer_ref(SETTINGS, "ada@example.com")
    other = Settings(console_secret="another-console-secret-32-chars!")

    assert resolve(other, ref) == ref, "another deployment's secret opens nothing"
    tampered = ref[:-2] + ("AA" if not ref.endswith("AA") else "BB")
    assert resolve(SETTINGS, tampered) == tampered
    assert resolve(SETTINGS, PREFIX + "not base64!") == PREFIX + "not base64!"
