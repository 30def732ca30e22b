"""Channel configuration is checked when the worker starts, naming the settings to fix."""

from __future__ import annotations

import pytest

from journeys.delivery.channels import ChannelConfigError, build_providers, close_providers
from journeys.delivery.channels.console import ConsoleProvider
from journeys.delivery.channels.smtp import SmtpProvider
from journeys.delivery.channels.twilio import TwilioProvider
from journeys.delivery.channels.webhook import WebhookProvider
from tests.support.local_servers import settings


def test_the_default_is_the_console_for_both_channels() -> None:
    providers = build_providers(settings())
    assert {channel: type(p) for channel, p in providers.items()} == {
        "sms": ConsoleProvider,
        "email": ConsoleProvider,
    }


def test_an_unknown_provider_is_refused_by_name() -> None:
    with pytest.raises(ChannelConfigError, match=r"channel 'sms': unknown provider 'nexmo'"):
        build_providers(settings(channel_providers={"sms": "nexmo"}))


@pytest.mark.parametrize(
    ("provider", "values", "named"),
    [
        ("smtp", {"smtp_from_address": "a@example.com"}, ["JOURNEYS_SMTP_HOST"]),
        ("smtp", {"smtp_host": "mail"}, ["JOURNEYS_SMTP_FROM_ADDRESS"]),
        (
            "smtp",
            {"smtp_host": "mail", "smtp_from_address": "a@example.com", "smtp_username": "u"},
            ["JOURNEYS_SMTP_PASSWORD"],
        ),
        (
            "twilio",
            {},
            [
                "JOURNEYS_TWILIO_ACCOUNT_SID",
                "JOURNEYS_TWILIO_AUTH_TOKEN",
                "JOURNEYS_TWILIO_FROM_NUMBER or JOURNEYS_TWILIO_MESSAGING_SERVICE_SID",
            ],
        ),
        ("webhook", {}, ["JOURNEYS_WEBHOOK_SECRET"]),
    ],
)
def test_missing_settings_are_named(
    provider: str, values: dict[str, str], named: list[str]
) -> None:
    with pytest.raises(ChannelConfigError) as refused:
        build_providers(settings(channel_providers={"x": provider}, **values))
    for setting in named:
        assert setting in str(refused.value)


async def test_a_complete_configuration_builds_one_instance_per_provider() -> None:
    providers = build_providers(
        settings(
            channel_providers={
                "email": "smtp",
                "newsletter": "smtp",
                "sms": "twilio",
                "webhook": "webhook",
                "push": "console",
            },
            smtp_host="mail.example.com",
            smtp_from_address="shop@example.com",
            twilio_account_sid="AC1",
            twilio_auth_token="token",
            twilio_from_number="+15559990000",
            webhook_secret="whsec-0123456789abcdef",
            tracking_secret="a-long-enough-secret",
        )
    )
    assert isinstance(providers["email"], SmtpProvider)
    assert providers["newsletter"] is providers["email"]
    assert isinstance(providers["sms"], TwilioProvider)
    assert isinstance(providers["webhook"], WebhookProvider)
    await close_providers(providers.values())
    assert providers["sms"].client.is_closed
    assert providers["webhook"].client.is_closed


def test_email_tracking_needs_a_real_tracking_secret_outside_dev() -> None:
    values = {
        "channel_providers": {"email": "smtp"},
        "smtp_host": "mail.example.com",
        "smtp_from_address": "shop@example.com",
        "email_tracking": True,
    }
    with pytest.raises(ChannelConfigError, match="JOURNEYS_TRACKING_SECRET"):
        build_providers(settings(**values))
    build_providers(settings(tracking_secret="a-long-enough-secret", **values))


def test_email_needs_a_real_tracking_secret_for_its_unsubscribe_links_outside_dev() -> None:
    """Marketing email is not sent without its signed unsubscribe link: a worker that could not
    sign one refuses to start, naming the setting, rather than fail every marketing send."""
    values = {
        "channel_providers": {"email": "smtp"},
        "smtp_host": "mail.example.com",
        "smtp_from_address": "shop@example.com",
    }
    with pytest.raises(ChannelConfigError, match="unsubscribe links but JOURNEYS_TRACKING_SECRET"):
        build_providers(settings(**values))
    with pytest.raises(ChannelConfigError, match="JOURNEYS_TRACKING_SECRET is a published"):
        build_providers(settings(tracking_secret="dev-only-tracking-secret", **values))
    build_providers(settings(tracking_secret="a-long-enough-secret", **values))
    build_providers(settings(env="dev", **values))  # dev sends without links, and says so
