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
        ("Where is my ", False), ("refund", True), (", please?", False)]


def test_filters_parse_leniently() -> None:
    filters = CallFilters.from_params({"from": "2025-01-02", "to": "nonsense", "outcome": "LOST",
                                       "escalated": "yes", "tag": " Needs Coaching! "})
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
    record = {"call_sid": "CA1", "started_at": NOW, "ended_at": None, "caller": "+15551234567",
              "caller_name": "=HYPERLINK(\"http://x\")", "duration_s": 3.0, "turns": 1,
              "outcome": "resolved", "end_reason": "", "escalated": False, "escalation_rule": "",
              "escalation_reason": "", "min_sentiment": -0.5, "median_latency_ms": None,
              "topics": "", "tags": ["a", "b"], "summary": "-1+1"}
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
    assert board.lowest[0].call_sid == world.sids["angry"]
    assert board.latency_median == pytest.approx(770.0)
    assert sum(sum(v) for v in board.per_day.values()) == 17


def test_accounts_pause_after_repeated_failures(world) -> None:
    save_manager(world.store.engine, "tester", "another long password")
    for _ in range(5):
        assert authenticate(world.store.engine, "tester", "wrong password!") is None
    assert authenticate(world.store.engine, "tester", "another long password") is None  # paused
    assert authenticate(world.store.engine, MANAGER, PASSWORD) is not None
    assert authenticate(world.store.engine, "nobody", PASSWORD) is None
    with pytest.raises(ManagerError):
        save_manager(world.store.engine, "bad name!", "another long password")


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
