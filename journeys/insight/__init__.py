"""Read models: what happened, for support and operators.

- ``timeline.py``: a customer's runs and each run's story, in time order; ``timeline_entries.py``:
  each audit row, delivery, conversion and end as an entry and its sentence, rendered from the
  row's typed payload (``journeys.audit``); ``timeline_deliveries.py``: a message's delivery;
- ``analytics.py``: a journey's cohort numbers, conversions, lift and time series; ``funnel.py``:
  per-step reach and A/B variants;
- ``stats.py``: conversion rates and lift with their confidence intervals.

May import the store, contracts, vocabulary, audit payloads and settings; never workflows or
activities.
"""
