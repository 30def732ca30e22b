"""The one settings object shared by the API, the worker, the router and the CLI.

Every value can be set from the environment with the ``JOURNEYS_`` prefix (``JOURNEYS_NATS_URL``,
``JOURNEYS_DATABASE_URL``, ...), so one ``.env`` or compose file configures every process alike.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JOURNEYS_", env_file=".env", extra="ignore")

    env: str = "dev"
    data_dir: Path = Path(".journeys")
    database_url: str = ""

    # One URL, or several separated by commas (the seed servers of a cluster).
    nats_url: str = "nats://127.0.0.1:4222"
    events_stream: str = "EVENTS"
    events_subjects: str = "events.>"
    dlq_stream: str = "EVENTS_DLQ"
    dlq_subject_prefix: str = "dlq"
    # HTTP monitoring port of the nats-server `journeys dev` starts.
    nats_monitor_port: int = 8222
    # 3 on a clustered JetStream, so the streams survive the loss of a node.
    stream_replicas: int = Field(default=1, ge=1, le=5)
    # JetStream drops a re-published messageId inside this window (invariant 2, first layer).
    dedup_window_seconds: float = 120.0

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_ui_url: str = "http://127.0.0.1:8233"
    task_queue: str = "journeys"

    api_host: str = "127.0.0.1"
    api_port: int = 8000

    # Modules whose import registers code journeys (each may be a package of journey modules).
    journey_modules: list[str] = Field(default_factory=lambda: ["journeys.examples"])
    templates_dir: Path = Path("templates")
    # Channel name -> provider. Only the console provider exists until real providers land.
    channel_providers: dict[str, str] = Field(
        default_factory=lambda: {"sms": "console", "email": "console"}
    )

    # Journey waits are divided by this factor for runs started while it is set: a demo clock,
    # recorded in each run's input so replays stay deterministic. 1 means real time.
    time_scale: float = Field(default=1.0, ge=1.0)

    router_durable: str = "router"
    router_batch: int = Field(default=100, ge=1)
    router_concurrency: int = Field(default=32, ge=1)
    router_fetch_timeout_seconds: float = 1.0
    router_ack_wait_seconds: float = 30.0
    router_max_deliver: int = Field(default=5, ge=1)
    router_index_refresh_seconds: float = 5.0

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'journeys.db'}"
        return self

    @property
    def nats_servers(self) -> list[str]:
        return [url.strip() for url in self.nats_url.split(",") if url.strip()]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
