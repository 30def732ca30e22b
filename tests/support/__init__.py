"""What the tests share: helpers (``helpers.py``), the journeys-running fixtures
(``fixtures.py``, registered for the whole suite in ``tests/conftest.py``), and a worker and
router around real NATS and Temporal servers (``pipeline.py``)."""
