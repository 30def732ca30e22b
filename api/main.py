"""The FastAPI application: ``uvicorn api.main:app``, or :func:`create_app` for other settings."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.lifespan import lifespan
from api.routes import customers, events, health, journeys
from journeys.events import wire_name
from journeys.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(
        title="Journeys",
        summary="Customer events in, durable journeys out, and why each step happened.",
        lifespan=lifespan,
    )
    app.state.settings = settings or get_settings()
    for module in (health, events, journeys, customers):
        app.include_router(module.router)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    return app


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """422 whose ``loc`` names body fields as producers spell them (``userId``, not ``user_id``)."""
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        loc = list(error.get("loc", ()))
        if len(loc) > 1 and loc[0] == "body":
            loc[1] = wire_name(str(loc[1]))
        errors.append({**error, "loc": loc})
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(errors)})


app = create_app()
