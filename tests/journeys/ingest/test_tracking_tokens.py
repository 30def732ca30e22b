"""Tracking tokens across the switch to itsdangerous: links already in inboxes keep working.

The literal tokens below were issued by the previous scheme (``<base64url JSON>.<base64url
HMAC-SHA256>``) with ``TRACKING_SECRET``, before tracking.py signed with itsdangerous.
"""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from journeys.ingest import tracking
from tests.journeys.ingest.test_webhook_signatures import (
    TRACKING_SECRET,
    flip,
    token_of,
    tracking_settings,
)

TARGET = "https://shop.example.com/cart?id=K1&utm=é"
LEGACY_OPEN = "Wzdd.M616FIG2hKQ_g7idFuzGX2BO1ePBcESLoC4Dqwg0k7U"
LEGACY_CLICK = (
    "WzcsImh0dHBzOi8vc2hvcC5leGFtcGxlLmNvbS9jYXJ0P2lkPUsxJnV0bT1cdTAwZTkiXQ"
    ".migIe1eT7m3S431A_kV24EpomEAvpBI77UT9MZlDFOk"
)


def test_links_sent_before_the_switch_still_verify() -> None:
    settings = tracking_settings()
    assert settings.tracking_secret.get_secret_value() == TRACKING_SECRET
    assert tracking.verify_open_token(settings, LEGACY_OPEN) == 7
    assert tracking.verify_click_token(settings, LEGACY_CLICK) == tracking.ClickTarget(7, TARGET)


def test_old_tokens_altered_swapped_or_under_another_secret_are_refused() -> None:
    settings = tracking_settings()
    other = tracking_settings(tracking_secret=SecretStr("another-secret-of-enough-length"))
    for bad in [flip(LEGACY_CLICK, 0), flip(LEGACY_CLICK, len(LEGACY_CLICK) - 1), LEGACY_OPEN]:
        with pytest.raises(tracking.InvalidToken):
            tracking.verify_click_token(settings, bad)
    with pytest.raises(tracking.InvalidToken, match="signature"):
        tracking.verify_open_token(settings, LEGACY_CLICK)
    with pytest.raises(tracking.InvalidToken):
        tracking.verify_click_token(other, LEGACY_CLICK)


def test_new_tokens_are_not_the_old_format_and_round_trip() -> None:
    settings = tracking_settings()
    pixel = token_of(tracking.open_pixel_url(settings, 7))
    link = token_of(tracking.click_url(settings, 7, TARGET))
    assert (pixel, link) != (LEGACY_OPEN, LEGACY_CLICK)
    assert tracking.verify_open_token(settings, pixel) == 7
    assert tracking.verify_click_token(settings, link) == tracking.ClickTarget(7, TARGET)
    with pytest.raises(tracking.InvalidToken):
        tracking.verify_click_token(settings, pixel)  # an open token is no click token
    with pytest.raises(tracking.InvalidToken):
        tracking.verify_open_token(settings, link)


def test_a_token_has_exactly_one_spelling() -> None:
    """base64 decoders ignore a last character's spare bits; only the issued spelling passes."""
    settings = tracking_settings()
    pixel = token_of(tracking.open_pixel_url(settings, 7))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    accepted = []
    for char in alphabet:
        try:
            tracking.verify_open_token(settings, pixel[:-1] + char)
        except tracking.InvalidToken:
            continue
        accepted.append(char)
    assert accepted == [pixel[-1]]
