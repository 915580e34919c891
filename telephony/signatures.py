"""Twilio request signatures (X-Twilio-Signature) for webhooks and the media websocket."""

from __future__ import annotations

from collections.abc import Mapping

from twilio.request_validator import RequestValidator

from voice.settings import Settings

SIGNATURE_HEADER = "X-Twilio-Signature"


def is_signed(settings: Settings, url: str, params: Mapping[str, str],
              signature: str | None) -> bool:
    """True when `signature` is Twilio's HMAC of `url` and `params` under our auth token.

    Without a configured token nothing verifies: unsigned access is never the fallback.
    """
    if not settings.twilio_auth_token or not signature:
        return False
    return RequestValidator(settings.twilio_auth_token).validate(url, dict(params), signature)


def sign(settings: Settings, url: str, params: Mapping[str, str] | None = None) -> str:
    """What Twilio would send for this request (used by the simulator)."""
    return RequestValidator(settings.twilio_auth_token).compute_signature(url, dict(params or {}))
