"""Journeys sending email, for the unsubscribe tests (tests/journeys/delivery/ and
tests/api/unsubscribe/)."""

from __future__ import annotations

from datetime import timedelta

from journeys.workflows.dsl import Journey, JourneyEvent, journey


@journey(key="mail-mix", trigger="Mail Mix")
class MailMix(Journey):
    """One marketing email, one transactional email, one transactional email showing the link."""

    async def run(self, trigger: JourneyEvent) -> None:
        await self.send("email", "promo", step="promo", group="newsletter")
        await self.send("email", "receipt", step="receipt", category="transactional")
        await self.send("email", "notice", step="notice", category="transactional")


@journey(key="promo-series", trigger="Promo Started")
class PromoSeries(Journey):
    """A marketing email, then another a week later: running in between."""

    async def run(self, trigger: JourneyEvent) -> None:
        await self.send("email", "promo", step="first")
        await self.sleep(timedelta(days=7))
        await self.send("email", "promo", step="second")


# The templates they send, as files of a templates folder.
MAIL_TEMPLATES = {
    "promo.subject.j2": "Our sale",
    "promo.txt.j2": "Hi {{ customer.first_name }}.\nLeave: {{ unsubscribe_url }}\n"
    "Choose: {{ preferences_url }}\n",
    "promo.html.j2": '<p>Hi</p><a href="{{ unsubscribe_url }}">leave</a> '
    '<a href="{{ preferences_url }}">choose</a> <a href="https://shop.example.com/sale">sale</a>',
    "receipt.subject.j2": "Your receipt",
    "receipt.txt.j2": "Thank you for your order.\n",
    "notice.subject.j2": "Your account",
    "notice.txt.j2": "Manage your email: {{ preferences_url }}\n",
}
