"""A 422 is always an answer: whatever the invalid input, its echo cannot break the response
(issue 18, item 3). FastAPI parses these routes' bodies with :mod:`json`, which accepts lone
surrogates and NaN, neither of which UTF-8 JSON can carry back."""

from __future__ import annotations

import json

import httpx
import pytest


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (b'{"name": "key", "role": "sur\\ud800"}', ["body", "role"]),
        (b'{"name": NaN, "role": "admin"}', ["body", "name"]),
        (b'{"name": "key", "role": "admin", "sur\\ud800": 1}', ["body"]),  # pydantic: the key
    ],
    ids=["surrogate value", "NaN", "surrogate key"],
)
async def test_an_input_json_cannot_echo_is_still_a_422_naming_the_field(
    client: httpx.AsyncClient, body: bytes, loc: list[str]
) -> None:
    response = await client.post(
        "/v1/keys", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422, response.text
    assert [problem["loc"] for problem in json.loads(response.content)["detail"]] == [loc]
