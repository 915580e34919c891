"""The sentiment/escalation classifier: its data, its saved artefact, and the cases that matter."""

from __future__ import annotations

import csv
import os
from collections import Counter

import pytest

from voice.escalation.sentiment import DEFAULT_MODEL, LABELS, SentimentClassifier
from voice.escalation.sentiment_training import DATA, data_sha256, evaluate, load_utterances, split

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TARGET = 0.9


@pytest.fixture(scope="module")
def classifier() -> SentimentClassifier:
    return SentimentClassifier.load(DEFAULT_MODEL)


def test_data_set_is_large_varied_and_labelled():
    with DATA.open(newline="", encoding="utf-8") as fh:
        assert csv.DictReader(fh).fieldnames == ["text", "sentiment", "escalate", "domain", "note"]
    rows = load_utterances()
    assert len(rows) >= 700
    assert {r.sentiment for r in rows} == set(LABELS) and {r.escalate for r in rows} == {0, 1}
    assert {r.domain for r in rows} == {"orders", "returns", "banking", "clinic", "general"}
    notes = Counter(r.note for r in rows)
    for note in (
        "sarcasm",
        "negation_negative",
        "negated_positive",
        "human_request_polite",
        "human_request_short",
        "third_party_praise",
        "threat",
        "factual",
        "thanks",
    ):
        assert notes[note] >= 15, note
    texts = [r.text.lower().strip(" .!?") for r in rows]
    assert len(set(texts)) == len(texts), "duplicate utterances"
    for note in notes:  # an intent is either always escalated or never
        assert len({r.escalate for r in rows if r.note == note}) == 1, note


def test_artefact_metadata_matches_the_data_and_meets_the_target(classifier):
    meta = classifier.metadata
    assert meta["version"] == "sentiment-v1"
    assert meta["training_data_sha256"] == data_sha256(DATA), "retrain: the data changed"
    assert "all-MiniLM-L6-v2" in meta["embedding_model"] and meta["trained_at"]
    held_out = meta["held_out_metrics"]
    for key in ("escalate_precision", "escalate_recall", "escalate_f1"):
        assert held_out[key] >= TARGET, key


def test_held_out_metrics_recomputed_from_the_artefact(classifier):
    meta = classifier.metadata
    _, test_rows = split(load_utterances(), meta["split"]["seed"], meta["split"]["test_fraction"])
    assert len(test_rows) == meta["split"]["n_test"]
    metrics = evaluate(classifier, test_rows)
    for key in ("escalate_precision", "escalate_recall", "escalate_f1"):
        assert getattr(metrics, key) >= TARGET, key
        assert getattr(metrics, key) == pytest.approx(meta["held_out_metrics"][key], abs=0.01)
    assert metrics.sentiment_accuracy == pytest.approx(
        meta["held_out_metrics"]["sentiment_accuracy"], abs=0.01
    )


def test_lexicon_failure_is_read_as_negative(classifier):
    # VADER scores this +0.03 (neutral): no single word in it is negative.
    score = classifier.predict(
        "This is ridiculous, I have been waiting two weeks and nobody helps me"
    )
    assert score.label == "negative" and score.score < -0.5
    assert score.escalation_probability >= 0.5


def test_sarcasm_and_negation_are_negative(classifier):
    # Not the wording (that is in the training data): unseen variants of it.
    sarcasm, negation = classifier.predict_many(
        [
            "oh brilliant, another fortnight of waiting, how wonderful",
            "what you've told me isn't helpful at all",
        ]
    )
    assert sarcasm.label == negation.label == "negative"


def test_anger_at_a_third_party_does_not_escalate(classifier):
    score = classifier.predict("the courier was rude but you've been lovely")
    assert score.escalation_probability < 0.5 and score.label != "negative"


@pytest.mark.parametrize(
    "text",
    [
        "agent",
        "operator",
        "representative",
        "human",
        "person please",
        "get me an operator",
        "could I maybe have a word with one of your colleagues?",
    ],
)
def test_asking_for_a_person_escalates(classifier, text):
    assert classifier.predict(text).escalation_probability >= 0.5


def test_scores_are_consistent(classifier):
    texts = ["Thank you, that's lovely.", "", "Where is my parcel?"]
    many = classifier.predict_many(texts)
    for one, batched in zip([classifier.predict(t) for t in texts], many, strict=True):
        assert one.label == batched.label and one.intent == batched.intent  # padding aside
        assert one.score == pytest.approx(batched.score, abs=1e-4)
    assert many[1].label == "neutral" and many[1].escalation_probability == 0.0
    for s in many:
        assert -1.0 <= s.score <= 1.0 and 0.0 <= s.escalation_probability <= 1.0
        assert sum(s.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    assert many[0].label == "positive" and many[0].score > 0.5


def test_save_and_load_round_trip(classifier, tmp_path):
    classifier.save(tmp_path / "copy.npz")
    copy = SentimentClassifier.load(tmp_path / "copy.npz", classifier.embedder)
    text = "I'm going to cancel my account."
    assert copy.predict(text) == classifier.predict(text)
    assert copy.metadata["training_data_sha256"] == classifier.metadata["training_data_sha256"]
