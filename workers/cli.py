"""The `journeys` command: run the stack, its parts, migrations, and publish events by hand."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from journeys.settings import Settings, get_settings
from journeys.store.api_keys import Role
from workers.logs import configure_logging

T = TypeVar("T")

app = typer.Typer(
    help="Journeys: customer events on NATS drive durable Temporal journeys.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def dev(
    time_scale: Annotated[
        float,
        typer.Option(
            help="Divide journey waits by this factor for runs started now (60: 15 min -> 15 s).",
            min=1.0,
        ),
    ] = 1.0,
) -> None:
    """Start everything on this machine: Temporal, NATS, migrations, worker, router and API,
    with JOURNEYS_ENV=dev (generated secrets, relaxed compliance defaults)."""
    from workers.dev import dev_settings, run_dev

    configure_logging("dev")
    settings = dev_settings(get_settings())
    if time_scale != 1.0:
        settings = settings.model_copy(update={"time_scale": time_scale})
    raise typer.Exit(asyncio.run(run_dev(settings)))


@app.command()
def migrate(revision: str = "head") -> None:
    """Bring the database schema to REVISION (default: the newest)."""
    from journeys.store.schema import upgrade

    configure_logging("migrate")
    upgrade(get_settings(), revision)


@app.command()
def worker() -> None:
    """Run the Temporal worker: the journey workflows and their activities."""
    from workers.worker import serve

    configure_logging("worker")
    asyncio.run(serve(get_settings()))


@app.command()
def router() -> None:
    """Run the router: NATS events -> journey starts and signals."""
    from workers.router import serve

    configure_logging("router")
    asyncio.run(serve(get_settings()))


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Defaults to JOURNEYS_API_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Defaults to JOURNEYS_API_PORT.")] = None,
) -> None:
    """Run the HTTP API (ingestion, journeys, customers' timelines)."""
    import uvicorn

    configure_logging("api")
    settings = get_settings()
    uvicorn.run(
        "api.main:app",
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_config=None,
    )


@app.command()
def bench(
    quick: Annotated[
        bool, typer.Option("--quick", help="A smoke run of every phase in well under a minute.")
    ] = False,
    out: Annotated[Path, typer.Option(help="Folder for bench.json and bench.png.")] = Path(
        "bench-results"
    ),
    waiting: Annotated[
        int | None, typer.Option(help="Journeys waiting on timers (memory, matching rate).")
    ] = None,
    page_views: Annotated[
        int | None, typer.Option(help="Non-matching events (raw NATS and router).")
    ] = None,
    raw_starts: Annotated[int | None, typer.Option(help="Raw signal-with-starts.")] = None,
    latency_seconds: Annotated[
        float | None, typer.Option(help="How long each latency phase publishes.")
    ] = None,
    keep: Annotated[
        bool, typer.Option(help="Keep the stack's temporary folder (logs, databases).")
    ] = False,
) -> None:
    """Measure the pipeline against raw Temporal and raw NATS on an embedded stack of its own."""
    from rich.console import Console

    from workers.bench.config import FULL, QUICK
    from workers.bench.report import print_summary
    from workers.bench.runner import run_bench

    configure_logging("bench")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    sizes = (QUICK if quick else FULL).with_overrides(
        waiting_journeys=waiting,
        page_views=page_views,
        raw_starts=raw_starts,
        latency_seconds=latency_seconds,
    )
    console = Console()
    results = asyncio.run(run_bench(sizes, out, console=console, quick=quick, keep=keep))
    print_summary(console, results)
    chart = f", {out / 'bench.png'}" if results["chart"] else " (no chart: pip install matplotlib)"
    console.print(f"results: {out / 'bench.json'}{chart}")


@app.command()
def publish(
    event: Annotated[str, typer.Argument(help='Event name, e.g. "Cart Abandoned".')],
    user: Annotated[str | None, typer.Option("--user", "-u", help="userId.")] = None,
    anonymous_id: Annotated[str | None, typer.Option(help="anonymousId.")] = None,
    prop: Annotated[
        list[str] | None, typer.Option("--prop", "-p", help="Property KEY=VALUE (JSON values).")
    ] = None,
    trait: Annotated[
        list[str] | None, typer.Option("--trait", "-t", help="Trait KEY=VALUE (context.traits).")
    ] = None,
    message_id: Annotated[str | None, typer.Option(help="Idempotency key (default: new).")] = None,
) -> None:
    """Publish one track event to JetStream and wait for its ack."""
    from pydantic import ValidationError

    from journeys.ingest.events import Event, describe_validation_error

    payload: dict[str, Any] = {
        "type": "track",
        "event": event,
        "properties": _pairs(prop or [], "--prop", parse_json=True),
        "context": {"traits": _pairs(trait or [], "--trait", parse_json=False)},
    }
    for key, value in (("userId", user), ("anonymousId", anonymous_id), ("messageId", message_id)):
        if value:
            payload[key] = value
    try:
        parsed = Event.model_validate(payload)
    except ValidationError as err:
        raise typer.BadParameter(describe_validation_error(err)) from err
    from journeys.ingest.bus import NatsUnavailable

    try:
        ack = asyncio.run(_publish(get_settings(), parsed))
    except NatsUnavailable as err:
        typer.echo(f"not published: {err}", err=True)
        raise typer.Exit(1) from err
    typer.echo(json.dumps(ack))


async def _publish(settings: Settings, event: Any) -> dict[str, Any]:
    from journeys.ingest import bus

    nc = await bus.connect(settings, "cli", timeout=10)
    try:
        js = nc.jetstream()
        await bus.ensure_streams(js, settings)
        ack = await bus.publish_event(js, settings, event)
        return {
            "subject": bus.event_subject(settings, event),
            "messageId": event.message_id,
            "stream": ack.stream,
            "seq": ack.seq,
            "duplicate": bool(ack.duplicate),
        }
    finally:
        await nc.drain()


keys = typer.Typer(
    help="API keys: make the first admin key, list keys, revoke one (straight in the database).",
    no_args_is_help=True,
)
app.add_typer(keys, name="keys")


@keys.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Whose key: a person or a system.")],
    role: Annotated[
        Role,
        typer.Option(
            help="admin, editor, support (reads, contacts masked) or ingest (sends events)."
        ),
    ],
) -> None:
    """Make a key and print it, once: the database keeps only its hash."""
    from workers.keys import create_key

    if not name.strip():
        raise typer.BadParameter("must not be empty", param_hint="--name")
    new = _with_store(create_key(get_settings(), name.strip(), role))
    typer.echo(new.secret)
    typer.echo(
        f"key {new.row.id} ({role}) for {new.row.name!r}: shown only now, keep it safe; send it "
        'as "Authorization: Bearer <key>"',
        err=True,
    )


@keys.command("list")
def keys_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per key.")] = False,
) -> None:
    """Every key, revoked ones too, oldest first; never a secret."""
    from workers.keys import list_keys

    rows = _with_store(list_keys(get_settings()))
    for row in rows:
        state = "active" if row.revoked_at is None else f"revoked {row.revoked_at:%Y-%m-%d %H:%M}"
        if as_json:
            fields = ("id", "name", "role", "created_by", "created_at", "revoked_at")
            typer.echo(json.dumps({f: getattr(row, f) for f in fields}, default=str))
        else:
            created = f"{row.created_at:%Y-%m-%d %H:%M}"
            typer.echo(f"{row.id}  {row.role:<7}  {state:<24}  {created}  {row.name}")
    if not rows and not as_json:
        typer.echo("no keys yet: journeys keys create --name NAME --role admin", err=True)


@keys.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (jk_<id>_...), or the whole key.")],
) -> None:
    """Revoke a key; API processes stop accepting it within a few seconds."""
    from journeys.store.api_keys import split_key
    from workers.keys import revoke_key

    whole = split_key(key_id)  # the whole key pasted: its id is enough
    key_id = whole[0] if whole else key_id
    revoked = _with_store(revoke_key(get_settings(), key_id))
    if revoked is None:
        typer.echo(f"no key {key_id!r}", err=True)
        raise typer.Exit(1)
    row = revoked.row
    if revoked.changed:
        typer.echo(f"revoked key {row.id} ({row.role}) of {row.name!r}")
    else:
        typer.echo(
            f"key {row.id} ({row.role}) of {row.name!r} was already revoked at {row.revoked_at}"
        )


def _with_store(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` on the store; a database error is one line naming the likely fix."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return asyncio.run(work)
    except SQLAlchemyError as err:
        typer.echo(
            f"database error: {err.__class__.__name__}: {err.args[0] if err.args else err}"
            " (has `journeys migrate` run on this database?)",
            err=True,
        )
        raise typer.Exit(1) from err


def _pairs(items: list[str], option: str, *, parse_json: bool) -> dict[str, Any]:
    """``total=42.5`` -> {"total": 42.5} with ``parse_json``; otherwise values stay strings
    (a phone number must not become an integer)."""
    result: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{option} {item!r}: expected KEY=VALUE")
        result[key] = raw
        if parse_json:
            with contextlib.suppress(json.JSONDecodeError):
                result[key] = json.loads(raw)
    return result


def main() -> None:
    app()


if __name__ == "__main__":
    main()
