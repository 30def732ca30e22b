"""The OpenAPI document: complete enough to use without reading the code, and true enough that
schemathesis, generating requests from it against the whole app, finds no server error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.python import asgi as schemathesis_asgi

from api.main import create_app
from journeys.settings import Settings
from journeys.store.api_keys import create_key
from tests.conftest import Store, make_settings
from tests.support.api import bearer
from tests.support.signers import SendGridSigner

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
# Requests per operation (its examples, valid and invalid ones): enough to reach the validation
# and not-found paths of each, few enough that the whole app is done well within a minute.
EXAMPLES = 20


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def has_example(spec: dict[str, Any], media: dict[str, Any]) -> bool:
    """An example on the media type, or on the body's schema (pydantic's ``examples``)."""
    if media.get("example") is not None or media.get("examples"):
        return True
    schema = media.get("schema", {})
    # An optional body is ``anyOf: [{$ref}, {type: null}]``.
    choices = schema.get("anyOf", [schema])
    for choice in choices:
        ref = choice.get("$ref")
        if ref is not None:
            choice = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        if choice.get("examples") or choice.get("example") is not None:
            return True
    return False


def test_every_operation_is_described_documents_success_and_shows_its_body(tmp_path: Path) -> None:
    spec = create_app(make_settings(tmp_path)).openapi()
    problems = []
    for name, operation in operations(spec):
        # FastAPI makes a summary of every function name: the description is the real text.
        if not operation.get("description"):
            problems.append(f"{name}: no description (a docstring, or description=)")
        # Success is a 2xx, or the redirect of a tracked link.
        if not any(code[0] in "23" for code in operation.get("responses", {})):
            problems.append(f"{name}: no documented 2xx (or 3xx) response")
        body = operation.get("requestBody")
        if body is not None:
            for content_type, media in body.get("content", {}).items():
                if not has_example(spec, media):
                    problems.append(f"{name}: no example of its {content_type} body")
    assert len(list(operations(spec))) > 20
    assert problems == []


def test_component_names_are_the_models_own(tmp_path: Path) -> None:
    """Clients generate types from the component names: two models of one name would be named by
    their module paths (``api__journeys__schemas__ProblemOut``), which every move renames."""
    spec = create_app(make_settings(tmp_path)).openapi()
    names = list(spec["components"]["schemas"])
    assert {"JourneyProblemOut", "TemplateProblemOut", "JourneyVersionSummary"} <= set(names)
    assert [name for name in names if "__" in name] == []


@pytest.fixture
async def admin_key(store: Store) -> str:
    async with store.sessions() as session:
        key = await create_key(session, name="schemathesis", role="admin", created_by="test")
        await session.commit()
    return key.secret


@pytest.fixture
def fuzzed_settings(api_settings: Settings) -> Settings:
    """Webhook secrets set, as in production: unset, the webhooks rightly answer 503."""
    return api_settings.model_copy(
        update={
            "sendgrid_webhook_public_key": SendGridSigner().public_key,
            "twilio_auth_token": SecretStr("twilio-test-auth-token"),
        }
    )


@pytest.mark.slow
def test_generated_requests_get_no_server_error(fuzzed_settings: Settings, admin_key: str) -> None:
    """Every operation, with its own examples and with valid and invalid generated requests,
    against the whole app as ``create_app`` builds it. Schemathesis runs the app's real
    lifespan (store, NATS, Temporal) in its own event loop thread and calls it there.

    An admin key goes with each request, so every route is reached; the providers' webhooks
    answer 401/403 to bodies no provider signed, which is their job. Each operation's failure is
    collected, so one report names every operation that answered 5xx.
    """
    app = create_app(fuzzed_settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: dict[str, str] = {}
    tested = 0
    try:
        for result in schema.get_all_operations():
            if not isinstance(result, Ok):
                failures[f"schema error {len(failures)}"] = str(result.err())
                continue
            operation = result.ok()
            strategy = st.one_of(
                *operation.get_strategies_from_examples(),
                operation.as_strategy(GenerationMode.POSITIVE),
                operation.as_strategy(GenerationMode.NEGATIVE),
            )

            @given(case=strategy)
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def no_server_error(case: schemathesis.Case[Any]) -> None:
                case.call_and_validate(headers=bearer(admin_key), checks=[not_a_server_error])

            try:
                no_server_error()
            except Exception as err:  # a check failure, with the request to reproduce it
                failures[operation.label] = _explained(err)
            tested += 1
    finally:
        schemathesis_asgi.shutdown_lifespans()
    assert tested > 20
    assert failures == {}, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())


def _explained(err: BaseException) -> str:
    """The failure with its cause: Hypothesis wraps a failure it could not replay (the first
    request changed the app's state) in a group, whose members hold the server error."""
    if isinstance(err, BaseExceptionGroup):
        return "\n".join([str(err), *(_explained(e) for e in err.exceptions)])
    return "\n".join([f"{type(err).__name__}: {err}", *getattr(err, "__notes__", [])])
