"""Not a test module any more: the signature tests are in tests/journeys/ingest/ and the
SendGrid signer in tests/support/signers.py. Only tests/api/test_openapi.py still imports the
signer from here; delete this once it imports from tests.support.signers."""

from tests.support.signers import SendGridSigner as SendGridSigner
