"""A phone call: built around the websocket the telephony edge hands over, run until it ends,
and closed (recording, rows, outcome) whatever happened.

Watching a live call (a supervisor's console): a `CallWatcher` passed to `run_phone_call` is
told when each call opens and closes and gets the `PhoneCall`: its `session.listeners` receive
every event as it is recorded, `dialogue` holds what the agent knows and decides, and
`pipeline.responder` speaks for the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from voice.call.dialogue import CallDialogue, open_dialogue
from voice.engines.loaded import VoiceEngines
from voice.engines.resources import BusinessResources
from voice.escalation.handover import Transfer
from voice.heap import release_free_heap
from voice.logs import get_logger
from voice.pipeline.call_pipeline import CallPipeline
from voice.session import CallSession
from voice.settings import Settings
from voice.store.calls import Store

log = get_logger(__name__)

CALLER_WIDTH = 32  # the calls.caller column


@dataclass
class PhoneCall:
    session: CallSession
    dialogue: CallDialogue | None = None
    pipeline: CallPipeline | None = None

    def end(self, reason: str) -> str:
        """Why the call ends (the rule: `CallSession.end`)."""
        return self.session.end(reason)


class CallWatcher(Protocol):
    """Told of calls on this worker; called on the event loop, so it must not block."""

    def call_opened(self, call: PhoneCall) -> None:
        """The call is built (dialogue and pipeline) and about to run."""

    def call_closed(self, call: PhoneCall) -> None:
        """The call is closed (also one that failed before it opened)."""


async def run_phone_call(
    websocket: Any,
    call_sid: str,
    stream_sid: str,
    *,
    caller: str,
    settings: Settings,
    engines: VoiceEngines,
    resources: BusinessResources,
    store: Store,
    transfer: Transfer,
    watchers: Sequence[CallWatcher] = (),
) -> None:
    """Build the call, run it until it ends, close it (recording, rows, outcome) in any case.
    `caller`: the number from the signed webhook, never from the stream's parameters."""
    structlog.contextvars.bind_contextvars(call_sid=call_sid, stream_sid=stream_sid)
    session = CallSession(
        call_sid, stream_sid, caller[:CALLER_WIDTH], settings.recordings_dir, store
    )
    call = PhoneCall(session)
    try:
        await _run(call, websocket, settings, engines, resources, transfer, watchers)
    except Exception:
        log.exception("call failed")
        session.end("error")
    finally:
        session.close("completed")
        _tell(watchers, "call_closed", call)
        structlog.contextvars.unbind_contextvars("call_sid", "stream_sid")
        _release_heap_soon()


async def _run(
    call: PhoneCall,
    websocket: Any,
    settings: Settings,
    engines: VoiceEngines,
    resources: BusinessResources,
    transfer: Transfer,
    watchers: Sequence[CallWatcher],
) -> None:
    session = call.session
    call.dialogue = await asyncio.to_thread(
        open_dialogue, session, resources, engines.embedder, engines.llm, settings, transfer
    )
    call.pipeline = CallPipeline(websocket, session, engines, call.dialogue.conversation, settings)
    _tell(watchers, "call_opened", call)
    await call.pipeline.run()


def _release_heap_soon() -> None:
    """Off the event loop and not awaited: the call is over, nothing waits for this."""
    # RuntimeError: the server is shutting down and its executor takes no more work.
    with contextlib.suppress(RuntimeError):
        asyncio.get_running_loop().run_in_executor(None, release_free_heap)


def _tell(watchers: Sequence[CallWatcher], what: str, call: PhoneCall) -> None:
    for watcher in watchers:  # a failing watcher never breaks the call
        try:
            getattr(watcher, what)(call)
        except Exception:
            log.exception("call watcher failed", hook=what)
