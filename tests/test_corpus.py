"""The understanding corpus and its training: kept apart from the dialogues, well formed, and
trainable into an artefact that saves, loads and predicts.

The corpus (`data/understanding/train/*.jsonl`) and the development dialogues
(`data/dialogues/*.yaml`) are written by different people and must not share a sentence:
otherwise the dialogue pass rates would measure memory, not understanding.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml
from understanding_labels import ACTS, INTENTS

from voice.dialogue import training
from voice.dialogue.classifier import TurnClassifier
from voice.engines.embeddings import shared_embedder

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "data" / "understanding" / "train"
DIALOGUES = ROOT / "data" / "dialogues"
KEYS = {"text", "intent", "act", "intent2"}
# Moves that carry no task of their own (UNDERSTANDING.md: a greeting "with nothing else").
NO_TASK_ACTS = {"greeting", "goodbye", "repeat", "wait"}


def normalised(text: str) -> str:
    """Lowercase letters and digits only, one space between."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def corpus_rows() -> list[tuple[str, int, str]]:
    """(file name, line number, line) of every non-empty corpus line."""
    rows = []
    for path in sorted(CORPUS.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                rows.append((path.name, number, line))
    return rows


def dialogue_sentences() -> dict[str, str]:
    """normalised caller sentence -> the dialogue file it is in."""
    found = {}
    for path in sorted(DIALOGUES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for turn in data.get("turns") or []:
            if isinstance(turn, dict) and isinstance(turn.get("say"), str):
                found[normalised(turn["say"])] = path.name
    return found


@pytest.fixture(scope="module")
def rows() -> list[tuple[str, int, str]]:
    found = corpus_rows()
    assert found, f"no corpus lines in {CORPUS}"
    return found


# -- kept apart ------------------------------------------------------------------------------


def test_no_dialogue_sentence_is_in_the_training_corpus(rows):
    dialogues = dialogue_sentences()
    assert len(dialogues) >= 100  # the development set is real
    shared = []
    for name, number, line in rows:
        key = normalised(json.loads(line)["text"])
        if key in dialogues:
            shared.append(f"{name}:{number} = {dialogues[key]}")
    assert shared == []


def test_training_drops_any_dialogue_sentence_before_fitting(tmp_path: Path):
    """The guard in `callcentre train-understanding` itself, on a planted overlap."""
    (tmp_path / "c.jsonl").write_text(
        json.dumps({"text": "Where's my parcel, pal?", "intent": "order_status",
                    "act": "request"}) + "\n"
        + json.dumps({"text": "Cheers then, bye.", "intent": "none", "act": "goodbye"}) + "\n"
    )  # fmt: skip
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.yaml").write_text('turns:\n  - say: "WHERE\'S my parcel... pal"\n')
    kept = [
        e
        for e in training.load_corpus(tmp_path)
        if training.normalised(e.text) not in training.dialogue_sentences(tmp_path / "d")
    ]
    assert [e.text for e in kept] == ["Cheers then, bye."]


# -- well formed -----------------------------------------------------------------------------


def test_every_corpus_line_parses_with_allowed_labels(rows):
    problems = []
    for name, number, line in rows:
        where = f"{name}:{number}"
        try:
            row = json.loads(line)
        except ValueError as exc:
            problems.append(f"{where}: not JSON ({exc})")
            continue
        if not isinstance(row, dict) or not {"text", "intent", "act"} <= set(row):
            problems.append(f"{where}: needs text, intent and act")
            continue
        if set(row) - KEYS:
            problems.append(f"{where}: unknown keys {sorted(set(row) - KEYS)}")
        text, intent, act = row["text"], row["intent"], row["act"]
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{where}: empty text")
        if intent not in INTENTS:
            problems.append(f"{where}: intent {intent!r}")
        if act not in ACTS:
            problems.append(f"{where}: act {act!r}")
        if act == "request" and intent == "none":
            problems.append(f"{where}: a request without an intent")
        if act in NO_TASK_ACTS and intent != "none":
            problems.append(f"{where}: act {act} with intent {intent}")
        if "intent2" in row:
            second = row["intent2"]
            if second not in INTENTS - {"none"} or second == intent or intent == "none":
                problems.append(f"{where}: intent2 {second!r} after {intent!r}")
    assert problems == []


def test_the_same_sentence_never_has_two_labellings(rows):
    labels: dict[str, set] = {}
    for _, _, line in rows:
        row = json.loads(line)
        labels.setdefault(normalised(row["text"]), set()).add(
            (row["intent"], row["act"], row.get("intent2"))
        )
    assert {k: v for k, v in labels.items() if len(v) > 1} == {}


def test_the_corpus_covers_every_label_like_callers_speak(rows):
    parsed = [json.loads(line) for _, _, line in rows]
    assert len(parsed) >= 3000  # "thousands of caller turns"
    intents = Counter(r["intent"] for r in parsed)
    acts = Counter(r["act"] for r in parsed)
    assert {i for i in INTENTS if intents[i] < 30} == set()
    assert {a for a in ACTS if acts[a] < 30} == set()
    assert sum("intent2" in r for r in parsed) >= 50  # two requests in one turn
    texts = [r["text"].lower() for r in parsed]
    fillers = sum(bool(re.search(r"\b(um|uh|erm|you know)\b", t)) for t in texts)
    spoken_digits = sum(
        bool(
            re.search(
                r"\b(one|two|three|four|five|six|seven|eight|nine|"
                r"zero|oh)\b[ ,-]+\b(one|two|three|four|five|six|seven|"
                r"eight|nine|zero|oh)\b",
                t,
            )
        )
        for t in texts
    )
    assert fillers >= len(texts) // 20 and spoken_digits >= 50


# -- training --------------------------------------------------------------------------------

_TEMPLATES = {
    ("account_balance", "request"): [
        "what's the balance on my {acct} {filler}",
        "how much money is in my {acct} {filler}",
        "{opener} can you tell me my {acct} balance",
        "{opener} how much have I got in {acct}",
    ],
    ("card_block", "request"): [
        "please block my {card} it was stolen {filler}",
        "{opener} I lost my {card} can you freeze it",
        "{opener} someone took my {card} stop it please",
        "block the {card} {filler} right now",
    ],
    ("order_status", "request"): [
        "where is my {thing} I ordered {filler}",
        "{opener} has my {thing} shipped yet",
        "{opener} my {thing} hasn't arrived",
        "when will the {thing} be delivered {filler}",
    ],
    ("none", "thanks"): [
        "{opener} {thanks} {filler}",
        "{thanks} that's great {filler}",
        "{opener} {thanks} that's lovely",
    ],
    ("none", "goodbye"): [
        "{opener} {thanks} {bye}",
        "that's everything {filler} {bye}",
        "{bye} {filler}",
    ],
}
_FILL = {
    "acct": ["checking", "savings", "current account", "account"],
    "card": ["card", "debit card", "credit card", "bank card"],
    "thing": ["parcel", "order", "package", "lamp", "shoes"],
    "thanks": ["thanks", "thank you so much", "cheers", "thanks a lot", "many thanks", "thank you"],
    "filler": ["", "um", "please", "you know"],
    "opener": ["", "hi", "okay so", "hello"],
    "bye": ["bye", "goodbye", "bye now", "bye bye", "see you"],
}


def tiny_corpus(per_class: int = 24) -> list[training.Example]:
    """`per_class` distinct lines of each of five classes (120 lines), from every filling of
    the templates: four intents, three acts."""
    rng = random.Random(7)
    examples = []
    for (intent, act), templates in _TEMPLATES.items():
        texts = set()
        for template in templates:
            names = re.findall(r"{(\w+)}", template)
            for values in itertools.product(*(_FILL[n] for n in names)):
                filled = template.format(**dict(zip(names, values, strict=True)))
                texts.add(" ".join(filled.split()))
        chosen = rng.sample(sorted(texts), per_class)
        examples += [training.Example(text, intent, act) for text in chosen]
    rng.shuffle(examples)
    return examples


def test_training_a_tiny_corpus_gives_an_artefact_that_saves_loads_and_predicts(tmp_path):
    examples = tiny_corpus()
    assert len(examples) == 120 and len({e.text for e in examples}) == 120
    encoder = shared_embedder()
    classifier, meta = training.train(
        encoder, examples, folds=2, c_grid=(4.0,), log=lambda *_: None
    )
    assert set(classifier.intent_head.classes) == {
        "account_balance",
        "card_block",
        "order_status",
        "none",
    }
    assert set(classifier.act_head.classes) == {"request", "thanks", "goodbye"}
    assert meta["corpus_lines"] == len(examples)
    assert 0.0 <= meta["held_out"]["intent"]["accuracy"] <= 1.0
    assert meta["held_out"]["intent"]["temperature"] > 0
    path = tmp_path / "model" / "tiny.npz"
    classifier.save(path, dict(meta))
    assert path.exists() and path.with_suffix(".json").exists()
    loaded = TurnClassifier.load(encoder, path)
    assert loaded.meta["version"] == training.VERSION
    probes = {
        "could you check how much is left in my savings": "account_balance",
        "my credit card is gone, please block it": "card_block",
        "where has my package got to": "order_status",
        "thanks a million": "none",
        "lovely, that's all, bye for now": "none",
    }
    scores = loaded.score(list(probes))
    assert [s.intent[0] for s in scores] == list(probes.values())
    assert [s.act[0] for s in scores] == ["request", "request", "request", "thanks", "goodbye"]
    # the loaded artefact predicts what the trained one did
    again = classifier.score(list(probes))
    for a, b in zip(scores, again, strict=True):
        assert a.intent[0] == b.intent[0]
        assert a.intent[1] == pytest.approx(b.intent[1], abs=0.02)  # saved as float16


def test_a_head_with_two_classes_trains():
    examples = [e for e in tiny_corpus() if e.act != "goodbye"]  # acts: request, thanks
    classifier, _ = training.train(
        shared_embedder(), examples, folds=2, c_grid=(4.0,), log=lambda *_: None
    )
    assert set(classifier.act_head.classes) == {"request", "thanks"}


def test_augmentation_keeps_labels_and_varies_the_words():
    rng = random.Random(1)
    example = training.Example("Where is order 4521?", "order_status", "request")
    variants = training.augment(example, rng)
    assert 1 <= len(variants) <= 2
    for v in variants:
        assert (v.intent, v.act) == ("order_status", "request") and v.text != example.text
