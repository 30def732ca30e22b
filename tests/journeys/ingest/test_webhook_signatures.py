"""Signature checks of SendGrid and Twilio, and our tracking tokens, against known vectors.

The SendGrid and Twilio vectors come from the providers' own SDK test suites
(sendgrid-python ``test/unit/test_eventwebhook.py``, twilio-python
``tests/unit/test_request_validator.py``), so our code is checked against theirs, not itself.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from journeys.ingest import tracking
from journeys.ingest.webhooks import sendgrid, twilio
from journeys.ingest.webhooks.errors import NotConfigured, SignatureMissing, SignatureRejected
from journeys.settings import Settings
from tests.support.signers import SendGridSigner

# sendgrid-python's own test vector.
SG_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw"
    "+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
)
SG_SIGNATURE = (
    "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0J"
    "uG+luQAbPIqHh89M15TluLtEZtM="
)
SG_TIMESTAMP = "1600112502"
SG_BODY = (
    json.dumps(
        [
            {
                "email": "hello@world.com",
                "event": "dropped",
                "reason": "Bounced Address",
                "sg_event_id": "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
                "sg_message_id": "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-"
                "5F5FC76C-9.0",
                "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>",
                "timestamp": 1600112492,
            }
        ],
        sort_keys=True,
        separators=(",", ":"),
    )
    + "\r\n"
).encode()
SG_SIGNED_AT = datetime.fromtimestamp(int(SG_TIMESTAMP), UTC)


def verify_sg(
    body: bytes = SG_BODY,
    signature: str | None = SG_SIGNATURE,
    timestamp: str | None = SG_TIMESTAMP,
    key: str = SG_KEY,
    now: datetime = SG_SIGNED_AT,
) -> None:
    sendgrid.verify(key, signature, timestamp, body, max_age_seconds=300, now=now)


def test_sendgrid_accepts_sendgrids_own_signed_request() -> None:
    verify_sg()


def test_sendgrid_accepts_the_key_as_pem_too() -> None:
    pem = f"-----BEGIN PUBLIC KEY-----\n{SG_KEY}\n-----END PUBLIC KEY-----\n"
    verify_sg(key=pem)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"body": SG_BODY.replace(b"dropped", b"delivered")}, id="tampered body"),
        pytest.param({"body": SG_BODY.rstrip()}, id="body without its trailing CRLF"),
        pytest.param({"timestamp": "1600112503"}, id="other timestamp"),
        pytest.param({"key": SendGridSigner().public_key}, id="wrong key"),
        pytest.param({"signature": "bm90IGEgc2lnbmF0dXJl"}, id="garbage signature"),
        pytest.param({"signature": "%%%"}, id="signature not base64"),
        pytest.param({"now": datetime.fromtimestamp(1600112502 + 301, UTC)}, id="stale"),
        pytest.param({"now": datetime.fromtimestamp(1600112502 - 301, UTC)}, id="future"),
    ],
)
def test_sendgrid_refuses(changes: dict[str, object]) -> None:
    with pytest.raises(SignatureRejected):
        verify_sg(**changes)  # type: ignore[arg-type]


def test_sendgrid_refuses_a_non_numeric_timestamp_even_if_signed() -> None:
    signer = SendGridSigner()
    with pytest.raises(SignatureRejected, match="not a Unix time"):
        verify_sg(key=signer.public_key, timestamp="soon", signature=signer.sign(SG_BODY, "soon"))


@pytest.mark.parametrize("missing", ["signature", "timestamp"])
def test_sendgrid_missing_header_is_unsigned(missing: str) -> None:
    with pytest.raises(SignatureMissing):
        verify_sg(**{missing: None})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "key",
    [
        "",
        "not base64!",
        base64.b64encode(b"not DER").decode(),
        base64.b64encode(
            ec.generate_private_key(ec.SECP384R1())
            .public_key()
            .public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ).decode(),
    ],
    ids=["empty", "not base64", "not DER", "P-384"],
)
def test_sendgrid_unusable_key_is_not_configured(key: str) -> None:
    with pytest.raises(NotConfigured):
        verify_sg(key=key)


def test_our_sendgrid_signer_signs_what_the_webhook_accepts() -> None:
    signer = SendGridSigner()
    headers = signer.headers(b"[]")
    sendgrid.verify(
        signer.public_key,
        headers[sendgrid.SIGNATURE_HEADER],
        headers[sendgrid.TIMESTAMP_HEADER],
        b"[]",
        max_age_seconds=300,
    )


# twilio-python's own test vectors.
TW_TOKEN = "12345"
TW_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TW_PARAMS = {
    "CallSid": ["CA1234567890ABCDE"],
    "Digits": ["1234"],
    "From": ["+14158675309"],
    "To": ["+18005551212"],
    "Caller": ["+14158675309"],
}


def test_twilio_signature_matches_twilios_vector() -> None:
    assert twilio.compute_signature(TW_TOKEN, TW_URL, TW_PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_twilio_repeated_parameter_matches_twilios_vector() -> None:
    body = b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234"
    params = twilio.parse_form(body)
    assert twilio.compute_signature(TW_TOKEN, TW_URL, params) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


@pytest.mark.parametrize(
    ("url", "signature"),
    [
        (TW_URL, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        (TW_URL.replace(".com", ".com:1234"), "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        (TW_URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),  # Twilio signed it with :443
        (TW_URL.replace("https", "http"), "0ZXoZLH/DfblKGATFgpif+LLRf4="),  # with :80
        (
            TW_URL.replace(".com", ".com:1234").replace("https", "http"),
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=",
        ),
    ],
    ids=["as is", "port removed", "443 added", "80 added", "http port kept"],
)
def test_twilio_accepts_the_url_with_or_without_port(url: str, signature: str) -> None:
    twilio.verify(TW_TOKEN, signature, url, TW_PARAMS)


@pytest.mark.parametrize(
    ("token", "signature", "url", "params", "error"),
    [
        (TW_TOKEN, None, TW_URL, TW_PARAMS, SignatureMissing),
        (TW_TOKEN, "", TW_URL, TW_PARAMS, SignatureMissing),
        ("other", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", TW_URL, TW_PARAMS, SignatureRejected),
        (TW_TOKEN, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", TW_URL + "&x=1", TW_PARAMS, SignatureRejected),
        (
            TW_TOKEN,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
            TW_URL,
            {**TW_PARAMS, "Digits": ["9999"]},
            SignatureRejected,
        ),
        ("", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", TW_URL, TW_PARAMS, NotConfigured),
    ],
    ids=["missing", "empty", "other token", "other url", "tampered param", "no token set"],
)
def test_twilio_refuses(
    token: str,
    signature: str | None,
    url: str,
    params: dict[str, list[str]],
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        twilio.verify(token, signature, url, params)


def test_twilio_form_is_decoded_as_twilio_signs_it() -> None:
    params = twilio.parse_form(b"Body=Hello+w%C3%B6rld%21&Empty=&To=%2B1555")
    assert params == {"Body": ["Hello wörld!"], "Empty": [""], "To": ["+1555"]}


def tracking_settings(**values: object) -> Settings:
    return Settings.model_validate(
        {"public_base_url": "https://j.example.com/", "tracking_secret": TRACKING_SECRET, **values}
    )


TRACKING_SECRET = "a-tracking-secret-for-these-tests"


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_tracking_urls_round_trip() -> None:
    settings = tracking_settings()
    target = "https://shop.example.com/cart?id=K1&utm=é"

    pixel = tracking.open_pixel_url(settings, 7)
    link = tracking.click_url(settings, 7, target)

    assert pixel.startswith("https://j.example.com/t/o/")
    assert link.startswith("https://j.example.com/t/c/")
    assert tracking.verify_open_token(settings, token_of(pixel)) == 7
    assert tracking.verify_click_token(settings, token_of(link)) == tracking.ClickTarget(7, target)


def flip(text: str, index: int) -> str:
    swapped = "A" if text[index] != "A" else "B"
    return text[:index] + swapped + text[index + 1 :]


def test_tracking_refuses_altered_and_foreign_tokens() -> None:
    settings = tracking_settings()
    link = token_of(tracking.click_url(settings, 7, "https://shop.example.com/"))
    payload, mac = link.split(".")
    evil = base64.urlsafe_b64encode(b'[7,"https://evil.example.com/"]').rstrip(b"=").decode()
    other_secret = tracking_settings(tracking_secret=SecretStr("another-secret-of-enough-length"))

    for bad in [f"{evil}.{mac}", flip(link, 0), flip(link, len(link) - 1), f"{link}x", payload]:
        with pytest.raises(tracking.InvalidToken):
            tracking.verify_click_token(settings, bad)
    with pytest.raises(tracking.InvalidToken):
        tracking.verify_click_token(other_secret, link)
    with pytest.raises(tracking.InvalidToken, match="signature"):
        tracking.verify_open_token(settings, link)  # a click token is no open token


def test_tracking_signs_only_absolute_http_links() -> None:
    settings = tracking_settings()
    for url in ["javascript:alert(1)", "//evil.example.com/", "/relative", "ftp://x.example/"]:
        with pytest.raises(ValueError):
            tracking.click_url(settings, 7, url)
    with pytest.raises(ValueError):
        tracking.open_pixel_url(settings, 0)


def test_a_click_token_signed_with_the_old_placeholder_is_refused_in_every_env() -> None:
    """The probe's attack: a click token signed with the placeholder once shipped as the default
    redirected to the attacker's URL. No secret is a default now, and the placeholder is refused
    as a key even in dev, so such a token is never minted nor accepted."""
    forged = tracking_settings(env="dev", tracking_secret="dev-only-tracking-secret")
    for env in ("dev", "production"):
        with pytest.raises(NotConfigured, match="JOURNEYS_TRACKING_SECRET is a published"):
            tracking.click_url(forged.model_copy(update={"env": env}), 1, "https://evil.example/")
    with pytest.raises(NotConfigured, match="JOURNEYS_TRACKING_SECRET is not set"):
        tracking.open_pixel_url(Settings(_env_file=None), 1)
    with pytest.raises(NotConfigured, match="characters"):
        tracking.open_pixel_url(tracking_settings(tracking_secret="short"), 1)
    real = tracking_settings(tracking_secret="a-real-secret-of-32-characters!!")
    assert tracking.verify_open_token(real, token_of(tracking.open_pixel_url(real, 1))) == 1


def test_tracking_falls_back_to_the_api_address() -> None:
    settings = tracking_settings(public_base_url="", api_host="127.0.0.1", api_port=8123)
    assert tracking.open_pixel_url(settings, 3).startswith("http://127.0.0.1:8123/t/o/")
