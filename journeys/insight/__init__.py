"""Read models: what happened, for support and operators.

- ``timeline.py``: the story of one run; ``analytics.py``: a journey's funnel and conversions;
- ``stats.py``: conversion rates and lift with their confidence intervals.

May import the store, contracts and settings; never workflows or activities.
"""
