"""The one settings object shared by the API, the worker, the router and the CLI.

Every value can be set from the environment with the ``JOURNEYS_`` prefix (``JOURNEYS_NATS_URL``,
``JOURNEYS_DATABASE_URL``, ...), so one ``.env`` or compose file configures every process alike.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    """How much the stack trusts its configuration. ``production`` (the default) refuses to
    start without the secrets its features need; ``dev`` is what `journeys dev` sets: it
    generates those secrets for the local stack and relaxes the compliance defaults."""

    DEV = "dev"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JOURNEYS_", env_file=".env", extra="ignore")

    # Unset means production: a stack started without saying otherwise must be safe.
    env: Environment = Environment.PRODUCTION
    data_dir: Path = Path(".journeys")
    database_url: str = ""

    # One URL, or several separated by commas (the seed servers of a cluster).
    nats_url: str = "nats://127.0.0.1:4222"
    events_stream: str = "EVENTS"
    # Events are published on `events.<partition>.<type>[.<name>]`, the partition a hash of the
    # customer id: one router consumer per partition keeps each customer's events in order.
    # Change it only with the stream drained (see docs/events.md).
    event_partitions: int = Field(default=8, ge=1, le=1024)
    dlq_stream: str = "EVENTS_DLQ"
    dlq_subject_prefix: str = "dlq"
    # HTTP monitoring port of the nats-server `journeys dev` starts.
    nats_monitor_port: int = 8222
    # 3 on a clustered JetStream, so the streams survive the loss of a node.
    stream_replicas: int = Field(default=1, ge=1, le=5)
    # JetStream drops a re-published messageId inside this window (invariant 2, first layer).
    dedup_window_seconds: float = 120.0
    # Events and dead letters older than this are deleted from NATS. Journeys need only recent
    # ones (the store and Temporal keep what runs use); keeping them for ever would grow the disk
    # without bound and keep an erased customer's events (docs/operations.md, "Erasure").
    events_max_age_days: float = Field(default=30.0, gt=0)

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_ui_url: str = "http://127.0.0.1:8233"
    task_queue: str = "journeys"

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # GET /metrics on the API (Prometheus text format). Off by default: the API's port is public
    # and the metrics describe the traffic; turn it on where only the scraper reaches the path
    # (docs/security.md, "Metrics").
    api_metrics: bool = False

    # -- Health ports (workers/health.py): /livez, /readyz and /metrics of the worker and the
    # router, for probes and Prometheus. 0 turns a port off.
    health_host: str = "127.0.0.1"
    worker_health_port: int = Field(default=9101, ge=0, le=65535)
    router_health_port: int = Field(default=9102, ge=0, le=65535)
    # The Temporal SDK's own metrics (polls, requests, task latencies) on a port of their own,
    # served by the SDK's runtime in the worker and in the router's client; 0 turns it off.
    worker_temporal_metrics_port: int = Field(default=9103, ge=0, le=65535)
    router_temporal_metrics_port: int = Field(default=9104, ge=0, le=65535)

    # -- HTTP ingestion (api/routes/events.py, docs/events.md "HTTP ingestion").
    # Segment write keys a producer may send as the HTTP Basic username (empty password), each
    # accepted for ingestion only, as an `ingest` API key is (api/auth.py). Optional: an API key
    # of role ingest works there too, and empty does not open ingestion, which always needs one
    # or the other. A JSON list (JOURNEYS_WRITE_KEYS='["k1","k2"]'): several let one be rotated
    # out gradually.
    write_keys: list[SecretStr] = Field(default_factory=list)
    # The largest request body any route reads, in bytes (413 beyond, Content-Length checked
    # before reading); routes with limits of their own (ingestion, webhooks, keys, audience
    # uploads) keep theirs (docs/api.md "Limits").
    http_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)

    # Modules whose import registers code journeys (each may be a package of journey modules).
    journey_modules: list[str] = Field(default_factory=lambda: ["journeys.examples"])
    templates_dir: Path = Path("templates")
    # Channel name -> provider: console, smtp, twilio or webhook (see the delivery block below).
    channel_providers: dict[str, str] = Field(
        default_factory=lambda: {"sms": "console", "email": "console"}
    )

    # Journey waits are divided by this factor for runs started while it is set: a demo clock,
    # recorded in each run's input so replays stay deterministic. 1 means real time.
    time_scale: float = Field(default=1.0, ge=1.0)

    # Consumers are named `<router_durable>-<partition>`; routers share them through leases.
    router_durable: str = "router"
    router_lease_bucket: str = "journeys-router-leases"
    # Events per pull of one partition; the whole pull is acknowledged at once when applied.
    router_batch: int = Field(default=100, ge=1)
    # Customers applied at once, across all partitions this router holds.
    router_concurrency: int = Field(default=32, ge=1)
    router_fetch_timeout_seconds: float = 1.0
    router_ack_wait_seconds: float = Field(default=30.0, gt=0)
    # Attempts at an event that fails for a reason of its own before it is dead-lettered.
    # Outages (Temporal or the database unreachable) are retried without limit instead.
    router_max_deliver: int = Field(default=5, ge=1)
    router_index_refresh_seconds: float = 5.0

    # -- Provider webhooks and open/click tracking (api/routes/webhooks.py, api/routes/tracking.py,
    # docs/events.md "Provider webhooks and tracking").
    # Where the outside world reaches the API (https://journeys.example.com, behind a proxy):
    # Twilio signs the URL it called, and tracking links are built on it. Empty: the request's
    # own URL for Twilio, http://<api_host>:<api_port> for tracking links (fine for dev only).
    public_base_url: str = ""
    # SendGrid's Event Webhook verification key as its settings page shows it (base64 DER).
    sendgrid_webhook_public_key: str = ""
    # A signed SendGrid request older, or further in the future, than this is refused (replay).
    sendgrid_webhook_max_age_seconds: float = Field(default=300.0, gt=0)
    # The Twilio account's auth token: it signs Twilio's status callbacks.
    twilio_auth_token: SecretStr = SecretStr("")
    # Signs open-pixel, click and unsubscribe tokens (16+ characters, no default:
    # journeys/secret_checks.py).
    # The API refuses to start without it outside dev; `journeys dev` generates one.
    tracking_secret: SecretStr = SecretStr("")
    # Signs the console's session cookies and form tokens (api/auth.py), as tracking_secret.
    console_secret: SecretStr = SecretStr("")

    # -- Delivery channels (journeys/delivery/channels/, docs/delivery.md "Channels"). Each provider
    # named in channel_providers refuses to start while a setting it needs is empty.
    # smtp: host and from address are required; STARTTLS is required unless turned off (a local
    # relay or Mailpit), smtp_ssl is TLS from the first byte (port 465) and wins over STARTTLS.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = True
    smtp_ssl: bool = False
    smtp_from_address: str = ""
    smtp_from_name: str = ""
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    # Mailbox offered next to the HTTPS link in List-Unsubscribe (mailto:), when set.
    smtp_unsubscribe_mailto: str = ""
    # Marketing email carries a signed one-click unsubscribe link (List-Unsubscribe, and the
    # templates' unsubscribe_url / preferences_url; journeys/delivery/unsubscribe.py), signed
    # with tracking_secret. A link older than this is refused as expired: long, since an email
    # may be read, and its List-Unsubscribe used, months after it was sent.
    unsubscribe_link_max_age_days: float = Field(default=365.0, gt=0)
    # Rewrite HTML links through click tracking and add the open pixel
    # (journeys/ingest/tracking.py).
    email_tracking: bool = False
    # twilio: account SID and auth token (twilio_auth_token above), and From or a messaging
    # service. The status callback URL gets ?journeys_delivery_id=<id> appended.
    twilio_account_sid: str = ""
    twilio_from_number: str = ""
    twilio_messaging_service_sid: str = ""
    twilio_status_callback_url: str = ""
    twilio_base_url: str = "https://api.twilio.com"
    twilio_timeout_seconds: float = Field(default=15.0, gt=0)
    # webhook: POSTs to the profile's webhook_url trait, or to webhook_url when it has none,
    # signed with webhook_secret (16+ characters; the webhook step signs with it too, and
    # refuses to call without it). Private, loopback and link-local targets are refused unless
    # allowed (a test receiver, an internal service on purpose).
    webhook_url: str = ""
    webhook_secret: SecretStr = SecretStr("")
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_allow_private_targets: bool = False

    # -- Compliance, checked before every send (journeys/delivery/compliance.py, docs/delivery.md
    # "Compliance"). Marketing on these channels needs an explicit opt-in (SMS, as the TCPA asks);
    # on the others it goes out unless the customer opted out. Unset: ["sms"], or [] when env is
    # "dev" so a local stack sends without consent records.
    consent_opt_in_channels: list[str] | None = None
    # Marketing sends inside the quiet hours ("21:00-08:00", local time; empty: none) wait until
    # they end, in the profile's `timezone`, else default_timezone (an IANA name).
    quiet_hours: str = ""
    default_timezone: str = "UTC"
    # At most this many marketing messages per customer in any rolling window, across journeys
    # (0: no cap); counted per channel when frequency_cap_per_channel, else over all channels.
    frequency_cap: int = Field(default=0, ge=0)
    frequency_cap_window_hours: float = Field(default=24.0, gt=0)
    frequency_cap_per_channel: bool = False
    # SendGrid ASM group id -> subscription group name, for "Group Unsubscribed" events.
    subscription_groups_by_asm_id: dict[str, str] = Field(default_factory=dict)
    # Subscription groups the preference centre (api/unsubscribe/) offers every customer, with
    # the groups of this mapping and any group the customer has a record for.
    subscription_groups: list[str] = Field(default_factory=list)
    # Quiet hours of a channel of its own, winning over quiet_hours ({"sms": "21:00-08:00"};
    # "" for none on that channel). Unset: {"sms": "21:00-08:00"} (the TCPA's 8:00-21:00 local
    # time for marketing texts) when env is not "dev" and quiet_hours is empty, else {}.
    quiet_hours_by_channel: dict[str, str] | None = None

    # -- Worker tuning (journeys/worker_assembly.py), measured by `journeys bench` (scaling.md).
    # Workflow runs the worker keeps in memory between their tasks. Bounds its RSS: a run that
    # waits on a timer is evicted past this many and replayed from its history when the timer
    # fires, so 20,000 waiting journeys need not fit in memory. Temporal's default is 1000.
    worker_max_cached_workflows: int = Field(default=1000, ge=0)
    # Workflow tasks the worker runs at once, and its pollers per task queue (None: Temporal's
    # defaults). More pollers only help when tasks wait for a free poller, not on 2 cores.
    worker_max_concurrent_workflow_tasks: int | None = Field(default=None, ge=1)
    worker_workflow_task_pollers: int | None = Field(default=None, ge=1)
    worker_activity_task_pollers: int | None = Field(default=None, ge=1)
    # Journey modules the workflow sandbox shares between runs instead of re-importing them for
    # each run it starts or replays (the `journeys` library always is). Re-importing costs more
    # CPU than the journey itself; list only modules whose code is deterministic.
    worker_sandbox_passthrough: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'journeys.db'}"
        return self

    @property
    def nats_servers(self) -> list[str]:
        return [url.strip() for url in self.nats_url.split(",") if url.strip()]

    @property
    def router_lease_seconds(self) -> float:
        """Longer than ``ack_wait`` plus a renewal period, so a dead router's batch is redelivered
        before another router takes its partition (see workers/partitions.py)."""
        return self.router_ack_wait_seconds * 1.5 + 2

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
