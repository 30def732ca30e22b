"""The streams the API and routers create: events and dead letters expire after
``events_max_age_days``, and a changed setting reaches a stream that already exists."""

from __future__ import annotations

from journeys.ingest import bus
from tests.conftest import Store, stack_settings

DAY = 86400


async def test_events_and_dead_letters_expire_and_a_new_age_is_applied(
    store: Store, fresh_nats_url: str
) -> None:
    settings = stack_settings(store, fresh_nats_url, "unused:7233")
    connection = await bus.connect(settings, "test", timeout=10)
    js = connection.jetstream()
    try:
        await bus.ensure_streams(js, settings)
        for stream in (settings.events_stream, settings.dlq_stream):
            info = await js.stream_info(stream)
            assert info.config.max_age == settings.events_max_age_days * DAY

        shorter = settings.model_copy(update={"events_max_age_days": 7.0})
        await bus.ensure_streams(js, shorter)
        for stream in (settings.events_stream, settings.dlq_stream):
            assert (await js.stream_info(stream)).config.max_age == 7 * DAY
    finally:
        await connection.close()
