"""`callcentre`: serve the agent, rehearse calls."""

from __future__ import annotations

import argparse
import sys

from voice.settings import Settings, ensure_auth_token, ensure_stream_token_secret, get_settings


def _serve(args: argparse.Namespace) -> int:
    from voice.engines.loaded import preflight
    from voice.engines.models import MissingModelPackage

    settings = serve_settings(args.host, args.port)
    try:
        preflight(settings)  # before the heavy imports: a missing model is one line, at once
    except MissingModelPackage as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    import uvicorn

    from telephony.app import create_app
    from telephony.connections import MAX_HEAD_BYTES, guarded_uvicorn_protocol
    from voice.logs import configure_logging

    print(f"Public URL (signatures are checked against it): {settings.public_base}", flush=True)
    configure_logging(settings.log_level, settings.log_json)
    app = create_app(settings)
    # ws_max_size bounds a single websocket message; Twilio's are ~300 bytes. The guarded
    # protocol gives every request head HTTP_READ_TIMEOUT_S and caps idle connections.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        ws_max_size=1 << 20,
        timeout_graceful_shutdown=5,
        http=guarded_uvicorn_protocol(settings),
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        timeout_keep_alive=5,
        **proxy_options(settings),
    )
    return 0


def serve_settings(host: str, port: int) -> Settings:
    """The settings `serve` runs with: a development token in `.env` when none is set, and
    our own URL as PUBLIC_URL when that is unset (a local run: Twilio's URL is ours)."""
    if ensure_auth_token():  # the token itself is never printed: logs and terminals are shared
        from voice.settings import ENV_FILE

        print(
            f"Generated a development TWILIO_AUTH_TOKEN into {ENV_FILE.resolve()} (mode 600; "
            "the simulator reads it from there)",
            flush=True,
        )
    ensure_stream_token_secret()  # never printed: only this server needs it
    settings = get_settings()
    if "public_url" not in settings.model_fields_set:
        settings.public_url = local_public_url(host, port)
    return settings


def proxy_options(settings: Settings) -> dict:
    """uvicorn's X-Forwarded-For/-Proto handling: off unless TRUSTED_PROXIES names the proxies.

    uvicorn's own default believes those headers from 127.0.0.1 (or FORWARDED_ALLOW_IPS), so a
    tunnel agent or a pass-through proxy on this host would let any client pick its address
    (and rotate it past the login throttle). Here nobody is trusted unless configured."""
    trusted = ",".join(p.strip() for p in settings.trusted_proxies.split(",") if p.strip())
    if not trusted:
        return {"proxy_headers": False, "forwarded_allow_ips": ""}
    return {"proxy_headers": True, "forwarded_allow_ips": trusted}


def local_public_url(host: str, port: int) -> str:
    """Our URL when PUBLIC_URL is unset: the address callers on this machine use.

    A wildcard bind address (0.0.0.0, ::) is no address a client signs requests for; the
    simulator and curl reach it as 127.0.0.1.
    """
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address in a URL
    return f"http://{host}:{port}"


def _delegate(module: str):
    """A sub-command whose options and behaviour live in `module` (imported when used)."""

    def handler(args: argparse.Namespace) -> int:
        import importlib

        return importlib.import_module(module).run(args)

    return handler


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callcentre", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the agent's web server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.set_defaults(handler=_serve)

    from telephony import simulator

    simulate = commands.add_parser("simulate", help="play WAV files as a caller")
    simulator.add_arguments(simulate)
    simulate.set_defaults(handler=_delegate("telephony.simulator"))

    from telephony import evaluation
    from voice.store import seeding

    seed = commands.add_parser("seed", help="load a business's data into the database")
    seeding.add_arguments(seed)
    seed.set_defaults(handler=_delegate("voice.store.seeding"))

    from voice.escalation import sentiment_training

    train = commands.add_parser(
        "train-sentiment", help="train the sentiment and escalation classifier"
    )
    sentiment_training.add_arguments(train)
    train.set_defaults(handler=_delegate("voice.escalation.sentiment_training"))

    from review import cli as review_cli

    manager = commands.add_parser("add-manager", help="let a manager log in to /review")
    review_cli.add_arguments(manager)
    manager.set_defaults(handler=_delegate("review.cli"))

    from review import remove_manager

    removal = commands.add_parser(
        "remove-manager", help="take a manager's access to /review away (ends their sessions)"
    )
    remove_manager.add_arguments(removal)
    removal.set_defaults(handler=_delegate("review.remove_manager"))

    from voice.store import retention

    purge = commands.add_parser(
        "purge", help="delete recordings, transcripts and call rows older than RETENTION_DAYS"
    )
    retention.add_arguments(purge)
    purge.set_defaults(handler=_delegate("voice.store.retention"))

    scenarios = commands.add_parser("eval", help="run scripted calls and check what happened")
    evaluation.add_arguments(scenarios)
    scenarios.set_defaults(handler=_delegate("telephony.evaluation"))

    from voice.dialogue import training

    understanding = commands.add_parser(
        "train-understanding", help="train the classifier that reads caller turns"
    )
    training.add_arguments(understanding)
    understanding.set_defaults(handler=_delegate("voice.dialogue.training"))

    from telephony import chat, escalation_score

    talk = commands.add_parser("chat", help="type a call in the terminal (text, same brain)")
    chat.add_arguments(talk)
    talk.set_defaults(handler=_delegate("telephony.chat"))

    score = commands.add_parser(
        "score-escalation", help="precision/recall of escalation on labelled utterances"
    )
    escalation_score.add_arguments(score)
    score.set_defaults(handler=_delegate("telephony.escalation_score"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
