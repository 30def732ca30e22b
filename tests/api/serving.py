"""The old home of the in-process API helpers, now in tests/support/api.py. Only
tests/api/test_openapi.py still imports from here; delete this once it imports from there."""

from tests.support.api import bearer as bearer
