"""The two delivery errors and the Retry-After header they carry."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from journeys.delivery.channels import PermanentDeliveryError, RetryableDeliveryError
from journeys.delivery.channels.http_errors import retry_after_seconds


def test_retry_after_takes_seconds_or_an_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("120") == 120.0
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert retry_after_seconds(later, now=now.timestamp()) == 90.0
    earlier = format_datetime(now - timedelta(seconds=90), usegmt=True)
    assert retry_after_seconds(earlier, now=now.timestamp()) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_errors_keep_their_fields_through_pickle_and_copy() -> None:
    retryable = RetryableDeliveryError("twilio: HTTP 429", retry_after=7.0)
    permanent = PermanentDeliveryError("smtp recipient: 550 gone", kind="hard_bounce")
    for error in (pickle.loads(pickle.dumps(retryable)), copy.deepcopy(retryable)):
        assert (error.reason, error.retry_after) == ("twilio: HTTP 429", 7.0)
    for other in (pickle.loads(pickle.dumps(permanent)), copy.deepcopy(permanent)):
        assert (other.reason, other.kind) == ("smtp recipient: 550 gone", "hard_bounce")
    assert str(permanent) == "smtp recipient: 550 gone"
