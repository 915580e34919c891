"""`callcentre simulate`: its arguments, placing the call, printing the transcript and writing
the recordings (agent.wav, call.wav, transcript.json)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import soundfile as sf

from telephony.audio_files import SAMPLE_RATE, AudioFileError
from telephony.simulator.call import DEFAULT_URL, simulate_call
from telephony.simulator.recorded import server_heard
from telephony.simulator.results import SimulationResult, SimulatorError
from voice.settings import Settings, get_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "turns", nargs="+", metavar="TURN", help="caller WAV file, dtmf:DIGITS, or silence:SECONDS"
    )
    parser.add_argument("--url", default=DEFAULT_URL, help="media stream URL (%(default)s)")
    parser.add_argument("--from", dest="caller", default="+15550001111", help="caller number")
    parser.add_argument("--out", type=Path, default=Path("sim-out"), help="output folder")
    parser.add_argument(
        "--barge-in", action="store_true", help="speak 1 s into each greeting or reply"
    )
    parser.add_argument(
        "--no-transcribe",
        action="store_true",
        help="skip Whisper transcripts (of the agent, and of each caller turn as it was sent)",
    )
    parser.add_argument(
        "--no-webhook",
        action="store_true",
        help="open the stream without the voice webhook (our server refuses such a stream: "
        "its one-use token comes from the webhook's TwiML)",
    )
    parser.add_argument("--reply-timeout", type=float, default=30.0, help="seconds (default 30)")
    parser.add_argument("--hangup-after", type=float, default=None, help="hang up after SECONDS")


def run(args: argparse.Namespace) -> int:
    """`callcentre simulate`: place the call, print the transcript, write the recordings."""
    settings = settings_for(args.url)
    try:
        result = asyncio.run(
            simulate_call(
                args.turns,
                url=args.url,
                caller=args.caller,
                barge_in=args.barge_in,
                transcribe=not args.no_transcribe,
                transcribe_caller=not args.no_transcribe,
                use_webhook=not args.no_webhook,
                reply_timeout_s=args.reply_timeout,
                hangup_after_s=args.hangup_after,
                settings=settings,
            )
        )
    except (AudioFileError, SimulatorError) as exc:
        return _fail(str(exc))
    except OSError as exc:  # refused or unreachable
        return _fail(f"cannot connect to {args.url}: {exc.strerror or exc}")
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    heard = server_heard(result, settings.recordings_dir)
    for turn, text in zip(result.turns, heard or [], strict=False):
        turn.agent_heard = text
    _print_transcript(result)
    try:
        written = write_outputs(result, Path(args.out))
    except OSError as exc:
        return _fail(f"cannot write to {args.out}: {exc.strerror or exc}")
    print("wrote " + ", ".join(str(path) for path in written))
    return 0


def settings_for(url: str) -> Settings:
    """Settings as the server sees them; a local server without PUBLIC_URL is its own URL."""
    settings = get_settings()
    if "public_url" in settings.model_fields_set:
        return settings
    parts = urlsplit(url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return settings.model_copy(update={"public_url": f"{scheme}://{parts.netloc}"})


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _print_transcript(result: SimulationResult) -> None:
    print(f"call {result.call_sid} from {result.caller}, {result.duration_s:.1f} s")
    print(f'agent: "{result.greeting_text}"')
    for turn in result.turns:
        latency = "no reply" if turn.latency_ms is None else f"{turn.latency_ms:.0f} ms"
        print(f"[{turn.index + 1}] caller: {turn.source}")
        if turn.agent_heard:  # the server's own transcript (its recording is readable here)
            print(f'    agent heard: "{turn.agent_heard}"')
        elif turn.caller_text:  # what went down the line, heard back with our Whisper
            print(f'    heard: "{turn.caller_text}"')
        print(f'    agent ({latency}): "{turn.agent_text}"')
    median = result.median_latency_ms
    replies = sum(turn.latency_ms is not None for turn in result.turns)
    summary = "n/a" if median is None else f"{median:.0f} ms"
    print(f"median latency: {summary} ({replies} of {len(result.turns)} turns answered)")


def write_outputs(result: SimulationResult, out: Path) -> list[Path]:
    """agent.wav (as played), call.wav (caller left, agent right) and transcript.json."""
    out.mkdir(parents=True, exist_ok=True)
    length = min(len(result.agent_audio), len(result.caller_audio))
    stereo = np.stack([result.caller_audio[:length], result.agent_audio[:length]], axis=1)
    paths = [out / "agent.wav", out / "call.wav", out / "transcript.json"]
    sf.write(paths[0], result.agent_audio, SAMPLE_RATE, subtype="PCM_16")
    sf.write(paths[1], stereo, SAMPLE_RATE, subtype="PCM_16")
    paths[2].write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return paths
