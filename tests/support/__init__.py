"""What the tests share: helpers (``helpers.py``), the journeys-running fixtures
(``fixtures.py``, registered for the whole suite in ``tests/conftest.py``), a worker and
router around real NATS and Temporal servers (``pipeline.py``), the fixture journeys
(``journeys/``), the API in process (``api.py``) and behind uvicorn (``real_network.py``),
local servers the channels deliver to (``local_servers.py``), a SendGrid stand-in
(``signers.py``), a customer seeded with hidden contact details (``contact_customers.py``), the
ingestion tests' stream reads and request bodies (``ingest.py``) and journey runs written as the
worker's activities write them, for the analytics tests (``analytics_runs.py``)."""
