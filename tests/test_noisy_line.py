"""Speakerphone echo and backchannels through the real server (issue 16).

The simulator's phone line (telephony/phone_line.py) feeds the agent's own voice back into
the caller's audio as a speakerphone would: what the caller's phone is playing at that moment,
150 ms later, 20 dB quieter, band-limited to the phone band. The server runs with the
defaults: echo gate, one real word before a barge-in, backchannels filtered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from telephony.local_server import LocalServer
from telephony.phone_line import EchoPath, PhoneLine
from telephony.simulator import simulate_call
from voice.engines.stt import Transcript
from voice.pipeline.backchannel import content_words, is_backchannel
from voice.pipeline.barge_in import (
    EARLY_S,
    RECHECK_ONE_SHORT_S,
    RECHECK_S,
    recheck_after,
    words_heard,
    words_needed,
    words_said,
)


@pytest.fixture(scope="module")
def noisy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    with LocalServer(tmp_path_factory.mktemp("noisy")) as server:
        yield server


def events_of(server: LocalServer, call_sid: str) -> list[dict]:
    path = next(server.recordings.rglob(f"{call_sid}.jsonl"))
    return [json.loads(line) for line in path.read_text().splitlines()]


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


def test_backchannel_words() -> None:
    assert is_backchannel("Mm-hmm.") and is_backchannel("Okay, yeah.") and is_backchannel("I see")
    assert not is_backchannel("Yes.") and not is_backchannel("No, stop.")
    assert not is_backchannel("") and not is_backchannel("Okay, where is my order?")
    assert content_words("Okay, where is my order?") == 4
    assert content_words("uh-huh, right") == 0


def heard(text: str, audio_s: float = 0.7, no_speech: float = 0.2, logprob: float = -0.5) -> int:
    return words_heard(Transcript(text, "en", 1.0, no_speech, audio_s, 0.05, logprob))


def test_barge_in_counts_different_real_words_only() -> None:
    assert heard("I order") == 2 and heard("No, wait, stop!") == 3
    assert heard("Okay. Okay.") == 0 and heard("Uh-huh, right") == 0
    # Whisper guessing one word again and again from its start: one word.
    assert heard("Rise... Rise... Rise... Rise...") == 1 and heard("Yes, yes, yes") == 1
    # More words than anyone says in 0.6 s of audio: made up from babble, not counted.
    assert heard("I got to get out of here.", audio_s=0.62) == 0
    assert heard("I got to get out of here.", audio_s=1.4) == 7
    # Whisper's own verdict that there was no speech, or a stock hallucination.
    assert heard("I order", no_speech=0.9) == 0 and heard("Thank you.") == 0
    # Whisper unsure of its words (cafe babble read as "I'm sorry." at -1.5): the next check.
    assert heard("I'm sorry.", logprob=-1.5) == 0 and heard("I'm sorry.", logprob=-0.9) == 2
    assert heard("I'll get in.") == 3  # "I'll" is one word


def test_an_early_barge_in_check_needs_one_word_more() -> None:
    # A single word in the first moments of speech is how a backchannel starts ("yeah" is
    # heard "yes" from its first 0.2 s); two different words are a sentence under way.
    assert words_needed(1, 0.2) == 2 and words_needed(1, EARLY_S - 0.01) == 2
    assert words_needed(1, EARLY_S) == 1 and words_needed(2, 0.6) == 2


def test_a_check_with_real_words_in_it_looks_again_sooner() -> None:
    def said(text: str, logprob: float = -0.5) -> int:
        return words_said(Transcript(text, "en", 1.0, 0.1, 0.6, 0.05, logprob))

    # "I" heard early, where two words are needed, or "I order" that Whisper was unsure of
    # (cafe babble under it): nearly decided, the next check comes sooner.
    assert recheck_after(said("I")) == RECHECK_ONE_SHORT_S < RECHECK_S
    assert recheck_after(said("I order", logprob=-1.13)) == RECHECK_ONE_SHORT_S
    # A backchannel, nothing at all, or more words than anyone says in 0.6 s: the usual pace,
    # no extra chances to mishear it.
    assert recheck_after(said("Yeah.")) == RECHECK_S
    assert recheck_after(said("")) == RECHECK_S
    assert recheck_after(said("I got to get out of here now.")) == RECHECK_S


async def test_echo_alone_never_interrupts_the_agent(noisy_server: LocalServer, samples: Path):
    result = await simulate_call(
        [samples / "hello.wav"],
        url=noisy_server.media_url,
        settings=noisy_server.settings,
        transcribe=False,
        line=PhoneLine(echo=EchoPath(delay_ms=150, attenuation_db=20)),
    )
    events = events_of(noisy_server, result.call_sid)
    assert not result.clears, result.clears
    assert not [e for e in events if e["type"] == "barge_in"]
    agent = [e for e in events if e["type"] == "agent_turn"]
    assert agent and not any(e["interrupted"] for e in agent), agent
    # The caller's one turn was heard right, and the agent's own words never became a turn.
    caller = [e["text"] for e in events if e["type"] == "caller_turn"]
    assert len(caller) == 1, caller
    assert {"calling", "order"} <= words(caller[0]), caller


async def test_a_real_interruption_still_stops_the_agent(noisy_server: LocalServer, samples: Path):
    result = await simulate_call(
        [samples / "long_question.wav"],
        url=noisy_server.media_url,
        settings=noisy_server.settings,
        transcribe=False,
        barge_in=True,
        line=PhoneLine(echo=EchoPath(delay_ms=150, attenuation_db=20)),
    )
    assert result.clears, "talking over the agent must still stop it"
    turn = result.turns[0]
    # Stopped while the caller was still talking (how fast is bench/noise.py's to measure:
    # the words check waits for a transcription, slow on a loaded CPU).
    assert turn.caller_start_s < result.clears[0] < turn.caller_end_s, (result.clears, turn)
    events = events_of(noisy_server, result.call_sid)
    barge = [e for e in events if e["type"] == "barge_in"]
    assert len(barge) == 1 and content_words(barge[0]["text"]) >= 1, barge


async def test_a_backchannel_does_not_stop_the_agent(noisy_server: LocalServer, samples: Path):
    result = await simulate_call(
        [samples / "yeah_yeah.wav"],
        url=noisy_server.media_url,
        settings=noisy_server.settings,
        transcribe=False,
        barge_in=True,  # said one second into the greeting
        reply_timeout_s=10.0,
    )
    assert not result.clears, result.clears
    events = events_of(noisy_server, result.call_sid)
    greeting = next(e for e in events if e["type"] == "agent_turn")
    assert greeting["interrupted"] is False, greeting
    # Nor did "yeah, yeah" get an answer of its own: the greeting was the agent's only turn.
    assert [e["type"] for e in events].count("agent_turn") == 1, events
