"""Recorded workflow histories of journeys as they ran before a change; see ``record.py``."""
