"""The operator log through the API: admins read who changed what, newest first, by kind or
target; the rows are the ones the changes themselves wrote."""

from __future__ import annotations

import httpx


async def test_the_log_shows_each_change_with_its_actor_newest_first(
    client: httpx.AsyncClient,
) -> None:
    made = []
    for name in ("support: Grace", "editor: Alan"):
        response = await client.post("/v1/keys", json={"name": name, "role": "support"})
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
    assert (await client.delete(f"/v1/keys/{made[0]}")).status_code == 200

    response = await client.get("/v1/operator-log")
    assert response.status_code == 200, response.text
    logged = [(a["action"], a["target"]) for a in response.json()["actions"]]
    assert logged == [
        ("key.revoke", f"key:{made[0]}"),
        ("key.create", f"key:{made[1]}"),
        ("key.create", f"key:{made[0]}"),
    ]
    newest = response.json()["actions"][0]
    assert newest["actor_name"] == "test admin"
    assert newest["detail"]["name"] == "support: Grace"


async def test_the_log_filters_by_kind_and_target(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/keys", json={"name": "ops: Ada", "role": "editor"})
    key_id = response.json()["id"]
    await client.delete(f"/v1/keys/{key_id}")

    by_kind = (await client.get("/v1/operator-log", params={"action": "key.revoke"})).json()
    assert [a["target"] for a in by_kind["actions"]] == [f"key:{key_id}"]
    by_target = (await client.get("/v1/operator-log", params={"target": f"key:{key_id}"})).json()
    assert [a["action"] for a in by_target["actions"]] == ["key.revoke", "key.create"]
    limited = (await client.get("/v1/operator-log", params={"limit": 1})).json()
    assert len(limited["actions"]) == 1


async def test_a_bad_limit_is_refused_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/operator-log", params={"limit": 0})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]
