"""The event names webhooks and tracking produce, for journeys to trigger, wait or exit on.

Only string constants live here, so deterministic workflow code may import this module. The
names follow Segment's email spec where it has one ("Email Opened", "Unsubscribed", ...).
"""

from __future__ import annotations

EMAIL_DELIVERED = "Email Delivered"
EMAIL_OPENED = "Email Opened"
EMAIL_LINK_CLICKED = "Email Link Clicked"
EMAIL_BOUNCED = "Email Bounced"
EMAIL_DROPPED = "Email Dropped"
EMAIL_MARKED_AS_SPAM = "Email Marked as Spam"
UNSUBSCRIBED = "Unsubscribed"
GROUP_UNSUBSCRIBED = "Group Unsubscribed"

SMS_DELIVERED = "SMS Delivered"
SMS_FAILED = "SMS Failed"
SMS_UNDELIVERED = "SMS Undelivered"

# The `source` property: who observed the event. SendGrid's open tracking and our pixel both
# produce "Email Opened"; a journey that wants one of them filters on this.
SOURCE_SENDGRID = "sendgrid"
SOURCE_TWILIO = "twilio"
SOURCE_TRACKING = "tracking"
