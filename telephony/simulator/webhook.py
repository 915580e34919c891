"""The voice webhook, as Twilio calls it: the signed POST that answers a call, and the
`<Stream>` Parameters its TwiML gives the media stream."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit, urlunsplit

import httpx
from twilio.request_validator import RequestValidator

from telephony.simulator.results import SimulatorError
from voice.settings import Settings

log = logging.getLogger("telephony.simulator")

TO_NUMBER = "+15550009999"


def webhook_url(stream_url: str) -> str:
    """The voice webhook on the same server as the media stream (ws -> http, wss -> https)."""
    parts = urlsplit(stream_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return urlunsplit((scheme, parts.netloc, "/twilio/voice", "", ""))


async def answer_webhook(
    url: str, settings: Settings, *, call_sid: str, caller: str
) -> dict[str, str]:
    """POST the signed voice webhook as Twilio does; returns the `<Stream>` Parameters."""
    target = webhook_url(url)
    params = {
        "CallSid": call_sid,
        "AccountSid": settings.twilio_account_sid,
        "From": caller,
        "To": TO_NUMBER,
        "CallStatus": "ringing",
        "Direction": "inbound",
    }
    # Signed over the public URL, which is what the server rebuilds behind a proxy.
    validator = RequestValidator(settings.twilio_auth_token)
    headers = {
        "X-Twilio-Signature": validator.compute_signature(settings.public("/twilio/voice"), params)
    }
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await client.post(target, data=params, headers=headers)
    except httpx.HTTPError as exc:
        raise SimulatorError(f"cannot reach the voice webhook {target}: {exc}") from exc
    if response.status_code != 200:
        raise SimulatorError(f"the voice webhook {target} answered HTTP {response.status_code}")
    return stream_parameters(response.text)


def stream_parameters(twiml: str) -> dict[str, str]:
    """The `<Parameter>`s of `<Response><Connect><Stream>`, which Twilio passes on in `start`."""
    try:
        root = ET.fromstring(twiml)
    except ET.ParseError as exc:
        raise SimulatorError(f"the voice webhook did not answer TwiML: {exc}") from exc
    stream = root.find("./Connect/Stream")
    if root.tag != "Response" or stream is None:
        raise SimulatorError("the voice webhook's TwiML has no <Connect><Stream>")
    log.info("TwiML streams to %s", stream.get("url"))
    return {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
