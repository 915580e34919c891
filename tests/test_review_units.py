"""Review's parts on their own: passwords, masking, search terms, filters, safe paths, exports,
the waveform, the dashboard numbers, and `add-manager`."""

from __future__ import annotations

import argparse
import io
import wave
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from review_fixtures import MANAGER, NOW, PASSWORD, make_world, synth_wav

from review import cli
from review.audio import waveform
from review.auth import ManagerError, authenticate, save_manager
from review.exports import csv_lines
from review.files import call_file, inside, static_file
from review.filters import CallFilters, caller_clause, clean_tag
from review.formatting import clock, mask_phone
from review.passwords import hash_password, verify_password
from review.queries import list_calls
from review.search import TranscriptSearch, fts_expression, highlight, parse_terms
from review.stats import dashboard
from review.throttle import LoginThrottle

UTC = ZoneInfo("UTC")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    return make_world(tmp_path_factory.mktemp("review-units"))


def test_password_hashes_verify_and_differ() -> None:
    first, second = hash_password("a long passphrase"), hash_password("a long passphrase")
    assert first != second and first.startswith("scrypt$")  # salted
    assert verify_password("a long passphrase", first)
    assert not verify_password("a long passphrasE", first)
    assert not verify_password("x", "not a hash")
    assert not verify_password("x", "scrypt$1099511627776$8$1$AA==$AA==")  # absurd cost refused


def test_numbers_are_masked() -> None:
    assert mask_phone("+15551234567") == "+1 555 ••• 4567"
    assert mask_phone("+442079460958") == "+44 ••• 0958"
    assert mask_phone("anonymous") == "withheld"
    assert "2079" not in mask_phone("+442079460958")


def test_search_terms_cannot_inject_fts_syntax() -> None:
    assert parse_terms('Refund "Order  number" refund') == ["refund", "order number"]
    assert fts_expression("order number") == '"order number"*'
    assert fts_expression('NEAR(a b) OR "x" -y*') == '"NEAR a b OR x y"*'
    assert fts_expression("***") is None
    assert highlight("Where is my refund, please?", ["refund"]) == [
        ("Where is my ", False),
        ("refund", True),
        (", please?", False),
    ]


def test_filters_parse_leniently() -> None:
    filters = CallFilters.from_params(
        {
            "from": "2025-01-02",
            "to": "nonsense",
            "outcome": "LOST",
            "escalated": "yes",
            "tag": " Needs Coaching! ",
        }
    )
    assert filters.date_from == date(2025, 1, 2) and filters.date_to is None
    assert filters.outcome == "" and filters.escalated is True
    assert filters.tag == "needs-coaching" == clean_tag("Needs Coaching!")
    assert "escalated=yes" in filters.query_string(page=2)
    exact, fragment = caller_clause("(555) 123-4567"), caller_clause("4567")
    assert "=" in str(exact) and "LIKE" in str(fragment).upper()


def test_clock() -> None:
    assert clock(65.4) == "1:05" and clock(3725) == "1:02:05" and clock(None) == "–"


def test_paths_outside_the_folder_do_not_exist(tmp_path: Path) -> None:
    root = tmp_path / "recordings"
    (root / "2025-01-01").mkdir(parents=True)
    inner = root / "2025-01-01" / "CA1.wav"
    inner.write_bytes(b"RIFF")
    outer = tmp_path / "secret.wav"
    outer.write_bytes(b"RIFF")
    (root / "2025-01-01" / "CA2.wav").symlink_to(outer)
    assert inside(root, inner) == inner.resolve()
    assert inside(root, root / ".." / "secret.wav") is None
    assert inside(root, root / "2025-01-01" / "CA2.wav") is None  # symlink out
    assert inside(root, "/etc/passwd") is None and inside(root, "a\x00b") is None
    assert call_file(root, "../CA1", str(inner), None, ".wav") is None  # bad CallSid
    assert call_file(root, "CA1", "/etc/passwd", None, ".wav") is None
    assert static_file(root, "../secret.wav") is None and static_file(root, "/etc/passwd") is None


def test_csv_neutralises_formulas() -> None:
    record = {
        "call_sid": "CA1",
        "started_at": NOW,
        "ended_at": None,
        "caller": "+15551234567",
        "caller_name": '=HYPERLINK("http://x")',
        "duration_s": 3.0,
        "turns": 1,
        "outcome": "resolved",
        "end_reason": "",
        "escalated": False,
        "escalation_rule": "",
        "escalation_reason": "",
        "min_sentiment": -0.5,
        "median_latency_ms": None,
        "topics": "",
        "tags": ["a", "b"],
        "summary": "-1+1",
    }
    text = "".join(csv_lines([record]))
    assert "'=HYPERLINK" in text and "'-1+1" in text and "+1 555 ••• 4567" in text
    assert ",-0.5," in text and "15551234567" not in text


def test_waveform_separates_the_sides(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    synth_wav(path, [("caller", 0.0, 1.0, ""), ("agent", 1.0, 2.0, "")], 2.0)
    peaks = waveform(path, slices=20)
    caller, agent = np.array(peaks["caller"]), np.array(peaks["agent"])
    assert peaks["duration_s"] == 2.0 and len(caller) == 20
    assert caller[:9].min() > 0.2 and caller[11:].max() == 0
    assert agent[:9].max() == 0 and agent[11:].min() > 0.2
    mono = tmp_path / "mono.wav"
    with wave.open(str(mono), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(np.full(800, 1000, dtype=np.int16).tobytes())
    assert waveform(mono)["caller"] == waveform(mono)["agent"]


@pytest.mark.parametrize("mode", ["fts", "like"])
def test_search_paths_agree(world, mode: str) -> None:
    search = TranscriptSearch(mode)
    search.prepare(world.store.engine)
    assert search.uses_fts is (mode == "fts")

    def sids(q: str) -> set[str]:
        page = list_calls(world.store.engine, CallFilters(q=q), search, UTC, 1, 100)
        return {row.call_sid for row in page.rows}

    assert sids("ridiculous") == {world.sids["angry"]}
    assert sids('"real person" charged') == {world.sids["angry"]}
    assert sids("charged refund") == set()  # every term must occur in the call
    assert world.sids["calm"] in sids("refund")
    assert sids("100%_") == set()  # LIKE wildcards are literal


def test_list_filters(world) -> None:
    search = TranscriptSearch("auto")
    search.prepare(world.store.engine)

    def total(**params: str) -> int:
        filters = CallFilters.from_params(params)
        return list_calls(world.store.engine, filters, search, UTC, 1, 10).total

    assert total() == 17
    assert total(escalated="yes") == 1 and total(outcome="abandoned") == 3
    assert total(caller="+1 555 123 4567") == 1 and total(caller="0958") == 1
    today = NOW.date().isoformat()
    today_calls = sum((NOW - timedelta(hours=h)).date() == NOW.date() for h in (1, 2))
    assert total(**{"from": today, "to": today}) == today_calls
    first = list_calls(world.store.engine, CallFilters(), search, UTC, 1, 10)
    assert first.pages == 2 and first.rows[0].started_at >= first.rows[-1].started_at
    assert first.rows[0].caller_name == "Alice Example" and "•••" in first.rows[0].caller


def test_dashboard_numbers(world) -> None:
    board = dashboard(world.store.engine, NOW.date() - timedelta(days=29), NOW.date(), UTC)
    assert board.total == 17 and board.escalated == 1
    assert board.by_rule == [("human_request", 1)]
    assert board.topics[0] == ("opening hours", 12)
    assert [low.call_sid for low in board.lowest] == [world.sids["angry"]]  # only negative calls
    assert board.latency_median == pytest.approx(770.0)
    assert sum(sum(v) for v in board.per_day.values()) == 17


def test_lowest_sentiment_lists_only_negative_calls(world) -> None:
    happy_day = NOW.date() - timedelta(days=6)  # only the fillers, all at +0.3
    board = dashboard(world.store.engine, happy_day, happy_day, UTC)
    assert board.total > 0 and board.lowest == []


def test_accounts_never_pause(world) -> None:
    """Wrong passwords cannot lock a manager out; the login route throttles per address."""
    save_manager(world.store.engine, "tester", "another long password")
    for _ in range(6):
        assert authenticate(world.store.engine, "tester", "wrong password!") is None
    assert authenticate(world.store.engine, "tester", "another long password") is not None
    assert authenticate(world.store.engine, MANAGER, PASSWORD) is not None
    assert authenticate(world.store.engine, "nobody", PASSWORD) is None
    with pytest.raises(ManagerError):
        save_manager(world.store.engine, "bad name!", "another long password")


def test_throttle_is_per_address_and_name() -> None:
    now = [1000.0]
    throttle = LoginThrottle(per_name=5, per_address=8, window=900, clock=lambda: now[0])
    for _ in range(4):
        throttle.failed("198.51.100.7", "maria")
    assert throttle.retry_after("198.51.100.7", "maria") == 0  # four wrong tries are fine
    now[0] += 60
    throttle.failed("198.51.100.7", " Maria ")  # the fifth, however the name is typed
    assert throttle.retry_after("198.51.100.7", "maria") == 840  # the first one ages out
    assert throttle.retry_after("203.0.113.9", "maria") == 0  # the real manager elsewhere
    assert throttle.retry_after("198.51.100.7", "omar") == 0  # other names from there
    for name in ("omar", "kim", "lena"):
        throttle.failed("198.51.100.7", name)
    assert throttle.retry_after("198.51.100.7", "ana") > 0  # eight from one address: a pause
    assert throttle.retry_after("203.0.113.9", "ana") == 0
    now[0] += 841
    assert throttle.retry_after("198.51.100.7", "maria") == 0
    throttle.failed("203.0.113.9", "maria")
    throttle.succeeded("203.0.113.9", "maria")
    assert throttle._by_name.get(("203.0.113.9", "maria")) is None  # a right password clears


def test_a_name_is_slowed_down_across_addresses_but_never_locked() -> None:
    """Rotating addresses gets round the per-address count; the per-name one slows the name
    for everyone (doubling waits, at most a minute), except addresses it signed in from."""
    now = [1000.0]
    throttle = LoginThrottle(per_name_all=10, window=900, clock=lambda: now[0])
    throttle.succeeded("192.0.2.1", "maria")  # the manager's own browser, last week
    now[0] += 7 * 24 * 3600
    for i in range(10):
        assert throttle.check(f"198.51.100.{i}", "maria") == (0, "")
        throttle.failed(f"198.51.100.{i}", "maria")
    assert throttle.check("203.0.113.50", "maria") == (2, "name")  # the eleventh waits 2 s
    assert throttle.check("192.0.2.1", "maria") == (0, "")  # not the manager's own address
    assert throttle.check("203.0.113.50", "omar") == (0, "")  # nor other names
    waits = []
    for i in range(8):
        now[0] += throttle.check(f"203.0.113.{i}", "maria")[0]
        throttle.failed(f"203.0.113.{i}", "maria")
        waits.append(throttle.check("203.0.113.99", "maria")[0])
    assert waits == [4, 8, 16, 32, 60, 60, 60, 60]  # at most a try a minute, never a lock
    now[0] += 900
    assert throttle.check("203.0.113.99", "maria") == (0, "")  # the window passes


def test_add_manager_command(world, monkeypatch: pytest.MonkeyPatch) -> None:
    from voice.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", world.settings.database)
    get_settings.cache_clear()
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)

    def run(*argv: str, stdin: str) -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        return cli.run(parser.parse_args(argv))

    try:
        assert run("lena", "--password-stdin", stdin="a sturdy password\n") == 0
        assert authenticate(world.store.engine, "lena", "a sturdy password") is not None
        assert run("lena", "--password-stdin", stdin="another password\n") == 2  # exists
        assert run("kim", "--password-stdin", stdin="short\n") == 2
        assert run("lena", "--password-stdin", "--reset", stdin="a new password!\n") == 0
        assert authenticate(world.store.engine, "lena", "a new password!") is not None
        monkeypatch.setattr("getpass.getpass", lambda prompt="": "typed twice, same")
        assert run("omar", stdin="") == 0
    finally:
        get_settings.cache_clear()


def test_new_turns_are_found_by_the_next_search(tmp_path: Path) -> None:
    fresh = make_world(tmp_path, fillers=0)
    search = TranscriptSearch("fts")
    search.prepare(fresh.store.engine)
    assert search.sync(fresh.store.engine) > 0 and search.sync(fresh.store.engine) == 0
    fresh.store.start_call("CAnew", "+15551234567", "MZnew", "", "")
    fresh.store.add_turn("CAnew", "caller", "Is the zeppelin delivery late?", 0.5, 2.0)
    page = list_calls(fresh.store.engine, CallFilters(q="zeppelin"), search, UTC, 1, 10)
    assert [row.call_sid for row in page.rows] == ["CAnew"]


def test_escalation_turn_without_an_event_time_counts_caller_turns():
    """The column counts caller turns; rows of `turns` interleave the agent's."""
    from datetime import datetime

    from review.call_view import find_escalation
    from review.queries import CallDetail, TurnView

    def turn(index: int, role: str, start: float) -> TurnView:
        return TurnView(
            index, role, f"{role} {index}", start, start + 1, None, False, "", None, None
        )

    rows = [
        turn(0, "agent", 0),
        turn(1, "caller", 2),
        turn(2, "agent", 4),
        turn(3, "caller", 6),
        turn(4, "agent", 8),
    ]
    call = CallDetail(
        "CA" + "1" * 32,
        datetime(2026, 11, 29),
        None,
        "+1555•••4567",
        "Ann",
        10.0,
        5,
        "transferred",
        "escalated",
        "",
        [],
        True,
        "human_request",
        "Caller asked for a person",
        1,
        None,
        None,
        "",
        "",
        rows,
    )
    escalation = find_escalation(call, [{"type": "escalation", "rule": "human_request"}])
    assert escalation is not None and escalation.turn_index == 3  # the second caller turn
    assert escalation.t == 7


def test_search_survives_turn_ids_being_reused(tmp_path: Path) -> None:
    """`turns` has no AUTOINCREMENT: once the newest turns are deleted, SQLite hands their ids
    out again, below the index's bookmark. New calls must still become searchable."""
    from sqlalchemy import delete, func, select, text

    from review.search import MARK_TABLE
    from voice.store.retention import purge
    from voice.store.schema import Call, Turn

    fresh = make_world(tmp_path, fillers=0)
    engine = fresh.store.engine
    search = TranscriptSearch("fts")
    search.prepare(engine)
    assert search.sync(engine) > 0

    def found(q: str) -> list[str]:
        return [
            row.call_sid for row in list_calls(engine, CallFilters(q=q), search, UTC, 1, 50).rows
        ]

    # The newest call's turns go (by hand, words left in the index); the next turn takes the
    # very id the bookmark points at, so the count and the highest id look unchanged.
    newest = fresh.sids["symlink"]  # the last call make_world writes
    with engine.begin() as db:
        old_id = db.scalar(select(func.max(Turn.id)))
        db.execute(delete(Turn).where(Turn.call_sid == newest))
        db.execute(delete(Call).where(Call.call_sid == newest))
    fresh.store.start_call("CAreused", "+15551234567", "MZ1", "", "")
    fresh.store.add_turn("CAreused", "caller", "Is the zeppelin delivery late?", 0.5, 2.0)
    with engine.connect() as db:
        assert db.scalar(select(Turn.id).where(Turn.call_sid == "CAreused")) == old_id
    assert found("zeppelin") == ["CAreused"]
    assert "CAreused" not in found("thanks calling")  # the deleted turn's words are gone

    # Retention purges every call, the newest turns with them: ids start again from 1.
    fresh.store.finish_call("CAreused", "hangup")
    purge(fresh.store, fresh.recordings, 1, now=NOW + timedelta(days=30))
    fresh.store.start_call("CAafter", "+15559876543", "MZ2", "", "")
    fresh.store.add_turn("CAafter", "caller", "My blimp arrived broken.", 0.5, 2.0)
    fresh.store.add_turn("CAafter", "agent", "Sorry about the blimp.", 2.5, 4.0)
    with engine.connect() as db:
        assert db.scalar(select(func.min(Turn.id))) == 1
    assert found("blimp") == ["CAafter"] and found("zeppelin") == []
    assert search.sync(engine) == 0  # and then nothing more to do

    # A bookmark written before it named its turn (an older version) is rebuilt once.
    with engine.begin() as db:
        db.execute(text(f"DELETE FROM {MARK_TABLE}"))
    assert search.sync(engine) == 2 and search.sync(engine) == 0
    assert found("blimp") == ["CAafter"]
