"""The webhooks' body: what a provider's delivery events came to."""

from __future__ import annotations

from pydantic import BaseModel, Field


class WebhookResult(BaseModel):
    received: int = Field(description="provider events in the request")
    published: int = Field(description="events stored in JetStream by this request")
    duplicates: int = Field(description="events JetStream already held: a provider retry")
    ignored: int = Field(description="provider events we turn into no event (e.g. processed)")
    unknown_delivery: int = Field(description="events matching no delivery: not published")
