"""`callcentre add-manager NAME`: let someone log in to the review pages.

The password comes from standard input (`--password-stdin`, for scripts) or is asked for twice
without echo. It is never taken as an argument: arguments show up in `ps` and shell history.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from review.auth import ManagerError, save_manager


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the manager's login name (letters, digits, . _ @ -)")
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    parser.add_argument(
        "--phone",
        help="the manager's own phone, E.164 (+15551234567): 'Call back now' rings it first, "
        "and calls they take over go to it (else HUMAN_AGENT_NUMBER); empty clears it",
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="set a new password for an existing manager (ends their sessions)",
    )


def _read_password(from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        print("The passwords differ.", file=sys.stderr)
        return None
    return first


def run(args: argparse.Namespace) -> int:
    from voice.settings import get_settings
    from voice.store.calls import Store

    password = _read_password(args.password_stdin)
    if password is None:
        return 1
    settings = get_settings()
    try:
        save_manager(
            Store(settings.database).engine,
            args.name,
            password,
            reset=args.reset,
            phone=args.phone,
        )
    except ManagerError as exc:
        print(f"add-manager: {exc}", file=sys.stderr)
        return 2
    verb = "updated" if args.reset else "added"
    print(f"Manager {args.name!r} {verb}. They can log in at {settings.public_base}/review")
    return 0
