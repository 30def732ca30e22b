"""The provider webhooks' settings: trusting the test's SendGrid signer and a Twilio token."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from journeys.settings import Settings
from tests.support.delivery_reports import TWILIO_TOKEN
from tests.support.signers import SendGridSigner


@pytest.fixture
def webhook_settings(api_settings: Settings, signer: SendGridSigner) -> Settings:
    return api_settings.model_copy(
        update={
            "sendgrid_webhook_public_key": signer.public_key,
            "twilio_auth_token": SecretStr(TWILIO_TOKEN),
        }
    )
