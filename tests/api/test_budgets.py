"""Issue 18: no validate or preview request stalls the API or balloons its memory; each one
over a budget is a 422 naming the field, and /health keeps answering meanwhile."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

YAML = {"content-type": "application/yaml"}


@pytest.fixture(autouse=True)
async def checks_started(client: httpx.AsyncClient) -> None:
    """The checking processes' server started (a few seconds, once per API process)."""
    assert (
        await client.post("/v1/templates/validate", json={"channel": "sms", "text": "Hi"})
    ).is_success


def definition(where: str, **steps: Any) -> dict[str, Any]:
    return {
        "key": "budget",
        "trigger": {"event": "Cart Abandoned", "where": where},
        "steps": [{"id": "pause", "type": "delay", "duration": "15m"}],
    }


def fields(response: httpx.Response) -> list[str]:
    return [problem["field"] for problem in response.json()["detail"]]


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("9 ** (9 ** 7) > 7", "integer above 100,000 bits"),
        ("('a' * 300000000) == ''", "would build 300,000,000 characters"),
    ],
)
async def test_a_costly_expression_is_a_422_naming_its_field(
    client: httpx.AsyncClient, where: str, said: str
) -> None:
    started = time.monotonic()
    response = await client.post("/v1/journeys/validate", json=definition(where))
    assert time.monotonic() - started < 2
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert (problem["step"], problem["field"]) == (None, "trigger.where")
    assert said in problem["message"]

    draft = await client.put("/v1/journeys/budget/draft", json=definition(where))
    assert draft.status_code == 422
    assert fields(draft) == ["trigger.where"]


async def test_an_expression_costly_only_with_an_event_is_accepted(
    client: httpx.AsyncClient,
) -> None:
    """It cannot be judged without the event; at run time it is false (tests/journeys)."""
    where = "('a' * event.properties.n)|length > 0"
    response = await client.post("/v1/journeys/validate", json=definition(where))
    assert response.status_code == 200
    assert response.json()["valid"] is True


async def test_a_yaml_alias_bomb_is_refused_at_once(client: httpx.AsyncClient) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [" + ",".join([f"*{previous}"] * 9) + "]")
    bomb = "\n".join(lines) + "\n"
    assert len(bomb) < 600
    started = time.monotonic()
    response = await client.post("/v1/journeys/validate", content=bomb, headers=YAML)
    assert time.monotonic() - started < 2
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["field"] == "body"
    assert "aliases (*name) are not accepted" in problem["message"]


@pytest.mark.parametrize(
    ("body", "headers"),
    [("[" * 100_000, {"content-type": "application/json"}), ("[" * 5_000, YAML)],
)
async def test_a_nesting_bomb_is_a_422_not_a_500(
    client: httpx.AsyncClient, body: str, headers: dict[str, str]
) -> None:
    response = await client.post("/v1/journeys/validate", content=body, headers=headers)
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["field"] == "body"
    assert (
        "nested more than 32 levels" in problem["message"] or "does not parse" in problem["message"]
    )


async def test_a_document_nested_too_deep_is_refused(client: httpx.AsyncClient) -> None:
    data: Any = "deep"
    for _ in range(40):
        data = {"x": data}
    document = definition("true")
    document["steps"] = [
        {"id": "nudge", "type": "send", "channel": "sms", "template": "t", "data": data}
    ]
    response = await client.post("/v1/journeys/validate", json=document)
    assert response.status_code == 422
    assert "nested more than 32 levels" in response.json()["detail"][0]["message"]


async def test_a_long_chain_of_steps_is_checked_without_recursion(
    client: httpx.AsyncClient,
) -> None:
    def chain(length: int) -> dict[str, Any]:
        document = definition("true")
        document["steps"] = [
            {"id": f"s{i}", "type": "delay", "duration": "1m"} for i in range(length)
        ]
        return document

    accepted = await client.post("/v1/journeys/validate", json=chain(500))
    assert accepted.status_code == 200
    assert accepted.json()["valid"] is True
    refused = await client.post("/v1/journeys/validate", json=chain(501))
    assert refused.json()["problems"][0]["field"] == "steps"


TEMPLATE_BOMBS = [
    "{{ ('%0100000000d' % 1)|length }}",
    "{{ 'a'|center(100000000) }}",
    "{{ 'a'.ljust(100000000) }}",
    "{{ '{:>100000000}'.format(1) }}",
    "{{ 'a'|indent(100000000, true) }}",
    "{{ range(100000)|join('x' * 99999) }}",
    "{% for i in range(1000) %}{{ 'x' * 100000 }}{% endfor %}",
    "{{ lipsum(20000) }}",
]


@pytest.mark.parametrize("text", TEMPLATE_BOMBS)
async def test_a_template_bomb_is_a_422_naming_the_part(
    client: httpx.AsyncClient, text: str
) -> None:
    started = time.monotonic()
    response = await client.post("/v1/templates/validate", json={"channel": "sms", "text": text})
    assert time.monotonic() - started < 2
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert (problem["loc"], problem["type"]) == (["body", "text"], "unsafe")


async def test_a_preview_over_budget_is_a_422(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/v1/templates",
        json={
            "name": "stretchy",
            "channel": "sms",
            "text": "{{ 'a'|center(data.width) }}",
            "sample": {"data": {"width": 3}},
        },
    )
    assert created.status_code == 201, created.text
    preview = await client.post(
        "/v1/templates/sms/stretchy/preview", json={"data": {"width": 100_000_000}}
    )
    assert preview.status_code == 422
    [problem] = preview.json()["detail"]
    assert (problem["loc"], problem["type"]) == (["template", "text"], "unsafe")
    small = await client.post("/v1/templates/sms/stretchy/preview", json={"data": {"width": 3}})
    assert small.json()["text"] == " a "


async def health_latency(client: httpx.AsyncClient, busy: asyncio.Task[Any]) -> list[float]:
    """How long /health takes, again and again while ``busy`` runs."""
    latencies = []
    while not busy.done():
        started = time.monotonic()
        assert (await client.get("/health")).status_code == 200
        latencies.append(time.monotonic() - started)
        await asyncio.sleep(0.05)
    return latencies


async def test_health_answers_within_200_ms_while_the_worst_checks_run(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/health")  # connections warm
    # The slowest requests there are: a big YAML definition (the parser is pure Python; this
    # one runs into the time limit), and templates at the edge of the work budget.
    steps = [
        {"id": f"s{i}", "type": "delay", "duration": "15m", "next": f"s{i + 1}"}
        for i in range(15_000)
    ]
    steps.append({"id": "s15000", "type": "exit"})
    big_yaml = "key: big\ntrigger: {event: E}\nsteps:\n" + "".join(
        f"  - {{id: {s['id']}, type: {s['type']}"
        + (f", duration: 15m, next: {s['next']}}}\n" if "next" in s else "}\n")
        for s in steps
    )
    heavy = [
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(40) }}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    ]

    async def busy() -> list[httpx.Response]:
        return list(
            await asyncio.gather(
                client.post("/v1/journeys/validate", content=big_yaml, headers=YAML),
                *(
                    client.post("/v1/templates/validate", json={"channel": "sms", "text": t})
                    for t in heavy
                ),
            )
        )

    running = asyncio.create_task(busy())
    latencies = await health_latency(client, running)
    answers = await running
    assert [a.status_code for a in answers] == [422, 422, 422], [a.text for a in answers]
    assert "did not finish within 3 seconds" in answers[0].json()["detail"][0]["message"]
    assert latencies, "the checks finished before /health was asked"
    assert max(latencies) < 0.2, latencies
