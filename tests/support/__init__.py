"""What the tests share: helpers (``helpers.py``), and a worker and router around real NATS
and Temporal servers (``pipeline.py``)."""
