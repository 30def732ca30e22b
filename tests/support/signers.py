"""Signers that stand in for providers: requests signed as SendGrid signs its event webhook, for
the tests of the signature checks and of the API's webhook endpoints."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from journeys.ingest.webhooks import sendgrid


@dataclass
class SendGridSigner:
    """Signs like SendGrid: ECDSA P-256 / SHA-256 over ``timestamp + body``, base64 DER."""

    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    @property
    def public_key(self) -> str:
        """As SendGrid's settings page shows it: base64 of the DER SubjectPublicKeyInfo."""
        der = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def sign(self, body: bytes, timestamp: str) -> str:
        signature = self.private_key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode()

    def headers(self, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        return {
            sendgrid.SIGNATURE_HEADER: self.sign(body, stamp),
            sendgrid.TIMESTAMP_HEADER: stamp,
            "content-type": "application/json",
        }
