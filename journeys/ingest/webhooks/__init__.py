"""Provider webhooks (SendGrid, Twilio) and our own open/click tracking, turned into events.

Every event produced here is a track call for the customer the message concerns, found through
the ``deliveries`` row, with a deterministic ``messageId`` so a provider's retry is dropped by
JetStream's dedup. This package imports nothing at its top so that journey code can import
:mod:`journeys.ingest.webhooks.names` without pulling in the store or the crypto libraries.
"""
