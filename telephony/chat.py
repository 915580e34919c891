"""`callcentre chat`: type a call in the terminal and read the agent's replies.

The call goes through the same brain as a phone call (`voice.call.text`): understanding,
dialogue state, the business, sentiment and escalation. It runs against a fresh copy of the
sample business (or `--data DIR`) in a temporary folder, so nothing real is changed. Each reply
is followed by what was understood (intent, act, confidence, values) when `--verbose` is given.
An empty line or Ctrl-D ends the call; `#123` sends keypad digits.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from datetime import date
from pathlib import Path

from telephony.judging import reset_business
from voice.settings import Settings
from voice.store.calls import Store
from voice.store.seeding import DEFAULT_DATA_DIR


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--caller",
        default="+15551234567",
        help="the caller's number (default: a sample customer, Maria Lopez)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA_DIR,
        metavar="DIR",
        help="the business to talk to (default: data/business)",
    )
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="pin the agent's day and the seeded business to this date",
    )
    parser.add_argument("--verbose", action="store_true", help="show what was understood")


async def _chat(args: argparse.Namespace, workdir: Path, lines) -> int:
    from voice.call.text import TextCalls
    from voice.logs import configure_logging

    configure_logging("WARNING", as_json=False)

    settings = Settings(
        _env_file=None,
        RECORDINGS_DIR=workdir / "calls",
        DATABASE_URL=f"sqlite:///{workdir / 'chat.db'}",
        AGENT_TODAY=args.today.isoformat() if args.today else None,
    )
    store = Store(settings.database)
    reset_business(settings.database, args.data, args.today)
    call = TextCalls(settings, store).open(args.caller, today=args.today)
    print(f"agent:  {call.greeting}", flush=True)
    try:
        for line in lines:
            text = line.strip()
            if not text:
                break
            dtmf = text[1:] if text.startswith("#") else ""
            turn = await call.say("" if dtmf else text, dtmf)
            print(f"agent:  {turn.reply.text}", flush=True)
            plan = turn.reply.plan
            if args.verbose and plan is not None:
                print(
                    f"        [{plan.intent}, act {plan.act}, p={plan.confidence}, "
                    f"values {plan.values}{', offers ' + plan.offers if plan.offers else ''}"
                    f"{', did ' + plan.does if plan.does else ''}]",
                    flush=True,
                )
            if turn.escalated:
                print("        (handed over to a person)", flush=True)
            if call.ended:
                break
    finally:
        call.close()
        if call.session.stored is not None:
            await call.session.stored
        store.engine.dispose()
    return 0


def _prompted(stream):
    """Input lines, with a prompt when a person is typing."""
    while True:
        if stream.isatty():
            print("caller: ", end="", flush=True)
        line = stream.readline()
        if not line:
            return
        yield line


def run(args: argparse.Namespace) -> int:
    if not Path(args.data).is_dir():
        print(f"error: {args.data}: no such business data folder", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="callcentre-chat-") as tmp:
        return asyncio.run(_chat(args, Path(tmp), _prompted(sys.stdin)))
