"""``unsubscribe_url`` and ``preferences_url`` are email template variables from saving to preview:
an email template using them is accepted and previews with sample links; an SMS template is told
they are undefined, as its send would be."""

from __future__ import annotations

from journeys.settings import Settings
from tests.support.api import serve

EMAIL = {
    "name": "digest",
    "channel": "email",
    "subject": "Your digest",
    "text": "Leave: {{ unsubscribe_url }}\nChoose: {{ preferences_url }}\n",
}


async def test_email_templates_have_the_links_and_sms_templates_do_not(
    unsubscribe_settings: Settings,
) -> None:
    async with serve(unsubscribe_settings) as client:
        created = await client.post("/v1/templates", json=EMAIL)
        assert created.status_code == 201, created.text
        preview = await client.post("/v1/templates/email/digest/preview", json={})
        assert preview.status_code == 200, preview.text
        assert preview.json()["text"] == (
            "Leave: https://journeys.example.com/u/sample-token\n"
            "Choose: https://journeys.example.com/u/sample-token/preferences"
        )
        sms = await client.post(
            "/v1/templates",
            json={"name": "nudge", "channel": "sms", "text": "Stop: {{ unsubscribe_url }}"},
        )
        assert sms.status_code == 422
        assert "unsubscribe_url" in sms.text and "undefined" in sms.text
