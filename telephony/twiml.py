"""TwiML the webhook answers with."""

from __future__ import annotations

from twilio.twiml.voice_response import Connect, Stream, VoiceResponse


def connect_stream(
    stream_url: str, call_sid: str, token: str, status_callback: str | None = None
) -> str:
    """A bidirectional Media Stream (`<Connect>`, not one-way `<Start>`) to our websocket.

    Twilio drops query strings from stream URLs, so the call id and the call's one-use stream
    token (`telephony/stream_tokens.py`) travel as `<Parameter>`s and come back in the `start`
    message's `customParameters`. The caller's number is not among them: the server keeps it
    from the signed webhook and never takes it from the stream.
    """
    response = VoiceResponse()
    connect = Connect()
    stream = (
        Stream(url=stream_url, status_callback=status_callback)
        if status_callback
        else Stream(url=stream_url)
    )
    stream.parameter(name="callSid", value=call_sid)
    stream.parameter(name="token", value=token)
    connect.append(stream)
    response.append(connect)
    return str(response)


def hang_up() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)


def say_and_hang_up(text: str) -> str:
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return str(response)
