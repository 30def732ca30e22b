"""The templates resource's bodies: a template's parts and sample data in; versions, previews and
problems out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.params import MAX_VERSION, NO_NUL
from journeys.delivery.template_checks import sample_context
from journeys.delivery.templates_catalog import CHANNEL_PATTERN, NAME_PATTERN
from journeys.store import templates as store

Name = Annotated[str, Field(pattern=NAME_PATTERN, description="letters, digits, _ and -")]
Channel = Annotated[str, Field(pattern=CHANNEL_PATTERN, description="e.g. email, sms, webhook")]


class Parts(BaseModel):
    """A template's Jinja2 sources; an empty part counts as absent."""

    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(default=None, max_length=2_000, pattern=NO_NUL)
    text: str | None = Field(default=None, max_length=100_000, pattern=NO_NUL)
    html: str | None = Field(default=None, max_length=500_000, pattern=NO_NUL)

    def content(self) -> store.Content:
        return store.Content(self.subject or None, self.text or None, self.html or None)


class SampleEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "Sample Event"
    message_id: str = "sample-message"
    timestamp: datetime | None = None
    properties: dict[str, Any] = Field(default_factory=dict)


class Sample(BaseModel):
    """Sample data to render with: ``customer`` replaces the sample profile (traits, its ``id``
    defaulting to ``sample-customer``), ``event`` the sample trigger, ``data`` a send's data."""

    model_config = ConfigDict(extra="forbid")

    customer: dict[str, Any] | None = None
    event: SampleEvent | None = None
    data: dict[str, Any] | None = None

    def context(self) -> dict[str, Any]:
        event = None if self.event is None else self.event.model_dump(exclude_none=True)
        return sample_context(self.customer, event, self.data)


EXAMPLE_SAMPLE: dict[str, Any] = {
    "customer": {"first_name": "Ada"},
    "event": {"name": "Cart Abandoned", "properties": {"cart_id": "K9", "total": 19.9}},
}


class TemplateCreate(Parts):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "cart_reminder",
                    "channel": "sms",
                    "text": "Hi {{ customer.first_name }}, your cart "
                    "{{ event.properties.cart_id }} is waiting.",
                    "description": "First reminder",
                    "sample": EXAMPLE_SAMPLE,
                },
                {
                    "name": "welcome",
                    "channel": "email",
                    "subject": "Welcome, {{ customer.first_name }}",
                    "text": "Hi {{ customer.first_name }}, thanks for signing up.",
                    "html": "<p>Hi {{ customer.first_name }}, thanks for signing up.</p>",
                },
            ]
        }
    )

    name: Name
    channel: Channel
    description: str = Field(default="", max_length=2_000, pattern=NO_NUL)
    sample: Sample | None = Field(
        default=None, description="Data to check the draft with, e.g. the event's properties"
    )


class TemplateUpdate(Parts):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "text": "Hi {{ customer.first_name }}, cart "
                    "{{ event.properties.cart_id }} still waits for you.",
                    "description": "Shorter wording",
                    "sample": EXAMPLE_SAMPLE,
                    "base_version": 1,
                }
            ]
        }
    )

    description: str = Field(default="", max_length=2_000, pattern=NO_NUL)
    sample: Sample | None = Field(
        default=None, description="Data to check the draft with, e.g. the event's properties"
    )
    base_version: int | None = Field(
        default=None,
        ge=1,
        description="The version this edit started from; 409 if another was saved since",
    )


class PreviewIn(Sample):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{**EXAMPLE_SAMPLE, "version": 1}, {}]}
    )

    version: int | None = Field(
        default=None, ge=1, le=MAX_VERSION, description="Default: the latest"
    )


class ValidateIn(Parts, Sample):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "channel": "sms",
                    "text": "Hi {{ customer.first_name }}, your cart "
                    "{{ event.properties.cart_id }} is waiting.",
                    **EXAMPLE_SAMPLE,
                }
            ]
        }
    )

    channel: Channel


class TemplateProblemOut(BaseModel):
    loc: list[str]
    msg: str
    type: str
    line: int | None
    severity: Literal["error", "warning"]


class SmsOut(BaseModel):
    encoding: Literal["GSM-7", "UCS-2"]
    characters: int
    units: int = Field(description="GSM-7 septets or UTF-16 units")
    segments: int
    non_gsm: list[str] = Field(description="Characters that made the text UCS-2")


class TemplateVersionSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    source: str
    description: str
    created_at: datetime


class TemplateOut(TemplateVersionSummary):
    name: str
    channel: str
    subject: str | None
    text: str | None
    html: str | None


class TemplateDetail(TemplateOut):
    versions: list[TemplateVersionSummary] = Field(description="Every version, newest first")


class SavedTemplate(TemplateOut):
    created: bool = Field(description="False when the content equalled the latest version's")
    warnings: list[TemplateProblemOut]


class Rendered(BaseModel):
    subject: str | None
    text: str | None
    html: str | None


class PreviewOut(Rendered):
    name: str
    channel: str
    version: int
    sms: SmsOut | None
    warnings: list[TemplateProblemOut]


class TemplateValidationOut(BaseModel):
    valid: bool
    problems: list[TemplateProblemOut]
    rendered: Rendered | None = Field(description="The draft rendered with the sample, if it can")
    sms: SmsOut | None
