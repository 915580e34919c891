"""`callcentre remove-manager NAME`: take a manager's access to the review pages away.

Their password stops working and every session they have ends at once (a browser they left
signed in is sent to the login page on its next request). Their tags and notes stay, under
their name. `callcentre add-manager NAME` gives a removed name access again.
"""

from __future__ import annotations

import argparse
import sys

from review.auth import ManagerError, remove_manager


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the manager's login name")


def run(args: argparse.Namespace) -> int:
    from voice.settings import get_settings
    from voice.store.calls import Store

    settings = get_settings()
    try:
        ended = remove_manager(Store(settings.database).engine, args.name)
    except ManagerError as exc:
        print(f"remove-manager: {exc}", file=sys.stderr)
        return 2
    print(
        f"Manager {args.name!r} removed: they can no longer log in; {ended} session"
        f"{'' if ended == 1 else 's'} ended. Their tags and notes stay, under their name."
    )
    return 0
