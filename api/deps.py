"""Request dependencies: what a route may ask for, taken from the clients the lifespan opened."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.temporal_connection import TemporalConnection
from journeys.settings import Settings
from journeys.store.db import Sessions


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    sessions: Sessions = request.app.state.sessions
    async with sessions() as session:
        yield session


def get_sessions(request: Request) -> Sessions:
    """The session factory itself, for store functions that commit in several transactions."""
    sessions: Sessions = request.app.state.sessions
    return sessions


def get_nats(request: Request) -> NATS:
    connection: NATS = request.app.state.nats
    return connection


NatsDep = Annotated[NATS, Depends(get_nats)]


def get_jetstream(request: Request, connection: NatsDep) -> JetStreamContext:
    """Refuse at once while NATS is down: a publish would only sit in the reconnect buffer."""
    jetstream = jetstream_if_connected(request, connection)
    if jetstream is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "event not stored: the API is not connected to NATS; retry with the same messageId",
        )
    return jetstream


def jetstream_if_connected(request: Request, connection: NATS) -> JetStreamContext | None:
    """JetStream, or None while NATS is down: for a route that answers either way (a tracked
    click redirects whether or not its event is stored), asked when it is about to publish."""
    if not connection.is_connected:
        return None
    jetstream: JetStreamContext = request.app.state.jetstream
    return jetstream


def get_temporal_connection(request: Request) -> TemporalConnection:
    temporal: TemporalConnection = request.app.state.temporal
    return temporal


TemporalConnectionDep = Annotated[TemporalConnection, Depends(get_temporal_connection)]


async def get_temporal(temporal: TemporalConnectionDep) -> Client | None:
    return await temporal.get()


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
SessionsDep = Annotated[Sessions, Depends(get_sessions)]
JetStreamDep = Annotated[JetStreamContext, Depends(get_jetstream)]
TemporalDep = Annotated[Client | None, Depends(get_temporal)]
