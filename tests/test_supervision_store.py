"""The supervisor console's tables on SQLite and on a real PostgreSQL server: live call rows
written by the worker holding a call, the command queue it claims from, and the LISTEN/NOTIFY
wake-ups that carry changes between workers (polling on SQLite)."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from test_postgres import db_url  # noqa: F401 - SQLite and PostgreSQL, a schema per test

from voice.store.calls import Store
from voice.store.live import end_live_call, live_call, live_calls, open_live_call, update_live_call
from voice.store.retention import purge
from voice.store.signals import COMMAND_CHANNEL, LIVE_CHANNEL, Signals
from voice.store.supervision import (
    MAX_SAY_CHARS,
    ActionRefused,
    actions_for,
    finish_command,
    log_action,
    queue_command,
    take_commands,
)

CALL, OTHER = "CA" + "1" * 32, "CA" + "2" * 32
WORKER_A, WORKER_B = "host-a:101", "host-b:202"


@pytest.fixture
def engine(db_url: str):  # noqa: F811
    store = Store(db_url)
    yield store.engine
    store.engine.dispose()


def test_a_live_row_is_masked_versioned_and_leaves_when_the_call_ends(engine):
    open_live_call(engine, CALL, caller="+15551234567", worker=WORKER_A, worker_name="a")
    [view] = live_calls(engine)
    assert view.caller == "+1 555 ••• 4567" and "1234567" not in str(view.as_json())
    assert view.live and view.worker == WORKER_A and view.version == 1

    assert update_live_call(
        engine,
        CALL,
        intent="block_card",
        facts={"card_number": "4111 1111 1111 1111", "order_number": "45712"},
        pending_question="Shall I block the card 4111 1111 1111 1111?",
        pending_action="block_card",
        sentiment_score=-0.5,
        speaking="agent",
    )
    view = live_call(engine, CALL)
    assert view is not None and view.version == 2 and view.speaking == "agent"
    assert "4111 1111 1111 1111" not in str(view.as_json())
    assert view.facts["order_number"] == "45712"  # an order number is not a secret
    assert view.pending_action == "block_card" and view.sentiment_score == -0.5
    with pytest.raises(ValueError):
        update_live_call(engine, CALL, worker="someone else")  # not a field a call sets

    end_live_call(engine, CALL, "caller_hangup")
    [ended] = live_calls(engine)  # still readable for a while, as ended
    assert ended.status == "ended" and ended.ended_at is not None and ended.speaking == ""
    assert not update_live_call(engine, CALL, speaking="agent")  # an ended row stays ended


def test_commands_are_refused_for_calls_not_live_and_for_oversized_text(engine):
    with pytest.raises(ActionRefused, match="ended"):
        queue_command(engine, CALL, "maria", "say", "Hello")  # never seen
    open_live_call(engine, CALL, caller="+15551234567", worker=WORKER_A)
    with pytest.raises(ActionRefused, match=f"at most {MAX_SAY_CHARS}"):
        queue_command(engine, CALL, "maria", "say", "x" * (MAX_SAY_CHARS + 1))
    with pytest.raises(ActionRefused, match="type the sentence"):
        queue_command(engine, CALL, "maria", "say", "   ")
    with pytest.raises(ActionRefused, match="unknown"):
        queue_command(engine, CALL, "maria", "drop_tables", "x")
    queued = queue_command(engine, CALL, "maria", "say", "One  moment,\nplease.")
    end_live_call(engine, CALL, "caller_hangup")
    with pytest.raises(ActionRefused, match="ended"):
        queue_command(engine, CALL, "maria", "end")
    [action] = actions_for(engine, CALL)
    assert action.id == queued and action.text == "One moment, please."
    assert action.state == "failed" and "ended" in action.result  # never carried out late


def test_each_command_is_taken_once_by_the_worker_holding_the_call(engine):
    open_live_call(engine, CALL, caller="+15551234567", worker=WORKER_A)
    open_live_call(engine, OTHER, caller="+15550001111", worker=WORKER_B)
    ids = [queue_command(engine, CALL, "maria", "say", f"Sentence {i}.") for i in range(5)]
    queue_command(engine, OTHER, "maria", "end")

    claims: list[list] = []

    def claim() -> None:
        claims.append(take_commands(engine, WORKER_A, [CALL]))

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    taken = [c for batch in claims for c in batch]
    assert sorted(c.id for c in taken) == ids  # each once, none of the other call's
    assert min(taken, key=lambda c: c.id).text == "Sentence 0."

    finish_command(engine, ids[0], True, "said")
    finish_command(engine, ids[1], False, "the caller was speaking for too long")
    log_action(engine, CALL, "maria", "listen")
    states = [(a.kind, a.state, a.manager) for a in actions_for(engine, CALL)]
    assert states[:2] == [("say", "done", "maria"), ("say", "failed", "maria")]
    assert states[-1] == ("listen", "logged", "maria")
    assert take_commands(engine, WORKER_B, [OTHER])[0].kind == "end"


def test_a_card_number_typed_to_be_said_is_not_kept_once_said(engine):
    open_live_call(engine, CALL, caller="+15551234567", worker=WORKER_A)
    action = queue_command(engine, CALL, "maria", "say", "Your card 4111 1111 1111 1111 is fine.")
    [command] = take_commands(engine, WORKER_A, [CALL])
    assert "4111 1111 1111 1111" in command.text  # the caller hears it exactly
    finish_command(engine, action, True, "said")
    [view] = actions_for(engine, CALL)
    assert "4111 1111 1111 1111" not in view.text


async def test_waiters_wake_on_notify_or_poll(engine):
    signals = Signals(engine)
    open_live_call(engine, CALL, caller="+15551234567", worker=WORKER_A)
    if not signals.listening:  # SQLite: waiters time out at their poll interval and re-read
        started = time.monotonic()
        assert await signals.wait(LIVE_CHANNEL, 0.2) is False
        assert time.monotonic() - started >= 0.19
        return
    waiter = asyncio.create_task(signals.wait(COMMAND_CHANNEL, 5.0))
    await asyncio.sleep(0.5)  # the LISTEN connection is up
    started = time.monotonic()
    await asyncio.to_thread(queue_command, engine, CALL, "maria", "say", "Hello there.")
    assert await waiter is True
    woke = time.monotonic() - started
    assert woke < 1.0, woke  # notified, not the 2 s slow poll
    live = asyncio.create_task(signals.wait(LIVE_CHANNEL, 5.0))
    await asyncio.sleep(0.1)
    await asyncio.to_thread(update_live_call, engine, CALL, speaking="caller")
    assert await live is True


def test_purging_a_call_takes_its_supervision_with_it(engine, tmp_path):
    store = Store(str(engine.url.render_as_string(hide_password=False)))
    long_ago = datetime.now(UTC) - timedelta(days=40)
    for sid in (CALL, OTHER):
        store.start_call(sid, "+15551234567", "MZ1", "", "", started_at=long_ago)
        open_live_call(engine, sid, caller="+15551234567", worker=WORKER_A)
        queue_command(engine, sid, "maria", "say", "Hello.")
        end_live_call(engine, sid, "completed")
        store.finish_call(sid, "completed", ended_at=long_ago + timedelta(minutes=3))
    store.start_call("CA" + "3" * 32, "+15551234567", "MZ2", "", "")  # recent: kept
    log_action(engine, "CA" + "3" * 32, "maria", "listen")
    report = purge(store, tmp_path, 30)
    assert sorted(report.calls) == sorted([CALL, OTHER])
    assert actions_for(engine, CALL) == [] and live_call(engine, CALL) is None
    assert [a.kind for a in actions_for(engine, "CA" + "3" * 32)] == ["listen"]
    store.engine.dispose()
