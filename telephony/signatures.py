"""Twilio request signatures (X-Twilio-Signature) for webhooks and the media websocket."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request
from twilio.request_validator import RequestValidator

from voice.logs import get_logger
from voice.settings import Settings

log = get_logger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"


def is_signed(
    settings: Settings, url: str, params: Mapping[str, str], signature: str | None
) -> bool:
    """True when `signature` is Twilio's HMAC of `url` and `params` under our auth token.

    Without a configured token nothing verifies: unsigned access is never the fallback.
    """
    if not settings.twilio_auth_token or not signature:
        return False
    return RequestValidator(settings.twilio_auth_token).validate(url, dict(params), signature)


async def signed_form(settings: Settings, request: Request) -> dict[str, str] | None:
    """A webhook's form fields when Twilio signed it, else None (the caller answers 403).

    The URL checked is the public one Twilio called (behind a proxy, not the one we see)."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    url = settings.public(request.url.path)
    if request.url.query:
        url = f"{url}?{request.url.query}"
    if not is_signed(settings, url, form, request.headers.get(SIGNATURE_HEADER)):
        log.warning("refused unsigned webhook", path=request.url.path)
        return None
    return form


def sign(settings: Settings, url: str, params: Mapping[str, str] | None = None) -> str:
    """What Twilio would send for this request (used by the simulator)."""
    return RequestValidator(settings.twilio_auth_token).compute_signature(url, dict(params or {}))
