"""The signed unsubscribe links: whom they name, and every way a link is refused."""

from __future__ import annotations

import time

import pytest
from pydantic import SecretStr

from journeys.delivery import unsubscribe
from journeys.delivery.unsubscribe import ExpiredToken, UnsubscribeLinks
from journeys.ingest import tracking
from journeys.ingest.tracking import InvalidToken
from journeys.ingest.webhooks.errors import NotConfigured
from journeys.settings import Settings

SECRET = "unsubscribe-test-secret-0123456789"


def settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "tracking_secret": SecretStr(SECRET),
        "public_base_url": "https://journeys.example.com/",
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def token_of(url: str) -> str:
    return url.removeprefix("https://journeys.example.com/u/").removesuffix("/preferences")


def test_a_link_names_its_customer_channel_and_group() -> None:
    links = UnsubscribeLinks(settings()).for_recipient("c-1", "email", "newsletter")
    assert links.unsubscribe_url.startswith("https://journeys.example.com/u/")
    assert links.preferences_url == f"{links.unsubscribe_url}/preferences"
    recipient = unsubscribe.verify(settings(), token_of(links.unsubscribe_url))
    assert (recipient.customer_id, recipient.channel, recipient.group) == (
        "c-1",
        "email",
        "newsletter",
    )
    assert abs(recipient.issued_at.timestamp() - time.time()) < 5
    plain = UnsubscribeLinks(settings()).for_recipient("c-1", "email", None)
    assert unsubscribe.verify(settings(), token_of(plain.unsubscribe_url)).group is None


def test_a_tampered_token_is_refused() -> None:
    token = unsubscribe.sign(settings(), "c-1", "email", None)
    _, _, rest = token.partition(".")
    other = unsubscribe.sign(settings(), "c-2", "email", None).partition(".")[0]
    for forged in (f"{other}.{rest}", token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), "x"):
        with pytest.raises(InvalidToken) as refused:
            unsubscribe.verify(settings(), forged)
        assert not isinstance(refused.value, ExpiredToken)
    with pytest.raises(InvalidToken):
        unsubscribe.verify(settings(), "a" * (unsubscribe.MAX_TOKEN_LENGTH + 1))


def test_a_token_signed_with_another_key_or_for_another_purpose_is_refused() -> None:
    token = unsubscribe.sign(
        settings(tracking_secret=SecretStr("another-secret-0123456789")), "c-1", "email", None
    )
    with pytest.raises(InvalidToken):
        unsubscribe.verify(settings(), token)
    # The click token's own salt: it never unsubscribes anyone, nor the reverse.
    click = tracking.click_url(settings(), 7, "https://shop.example.com/").rsplit("/", 1)[1]
    with pytest.raises(InvalidToken):
        unsubscribe.verify(settings(), click)
    with pytest.raises(InvalidToken):
        tracking.verify_click_token(settings(), unsubscribe.sign(settings(), "c-1", "email", None))


def test_an_expired_token_is_refused_as_expired() -> None:
    short = settings(unsubscribe_link_max_age_days=1 / 86400)  # one second
    token = unsubscribe.sign(short, "c-1", "email", None)
    assert unsubscribe.verify(short, token).customer_id == "c-1"
    time.sleep(2.1)
    with pytest.raises(ExpiredToken, match="expired"):
        unsubscribe.verify(short, token)
    # The default keeps links working for a year.
    assert unsubscribe.verify(settings(), token).customer_id == "c-1"
    assert Settings(_env_file=None).unsubscribe_link_max_age_days == 365


@pytest.mark.parametrize("secret", ["", "short", "dev-only-tracking-secret"])
def test_no_link_is_signed_or_judged_with_an_unfit_secret(secret: str) -> None:
    unfit = settings(tracking_secret=SecretStr(secret))
    with pytest.raises(NotConfigured, match="JOURNEYS_TRACKING_SECRET"):
        UnsubscribeLinks(unfit).for_recipient("c-1", "email", None)
    with pytest.raises(NotConfigured):
        unsubscribe.verify(unfit, unsubscribe.sign(settings(), "c-1", "email", None))


def test_is_link_knows_our_links_only() -> None:
    links = UnsubscribeLinks(settings())
    assert links.is_link(links.for_recipient("c-1", "email", None).preferences_url)
    assert not links.is_link("https://shop.example.com/u/abc")
