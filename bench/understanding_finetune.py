"""Fine-tuned MiniLM vs MiniLM as features: which reads caller turns better?

The shipped understanding classifier (`voice.dialogue.training`) keeps the packaged
all-MiniLM-L6-v2 frozen and fits logistic regressions on its sentence vectors plus word and
character n-grams. This benchmark fine-tunes the whole MiniLM instead (mean-pooled, two linear
heads for intent and act, cross-entropy, AdamW) on the same training part of the corpus, with
the same augmentation, and scores both on the same held-out part. It prints a table; the result
is recorded in docs/understanding.md.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/understanding_finetune.py [--epochs 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from voice.dialogue import training
from voice.engines.embeddings import Embedder
from voice.engines.models import minilm_dir


def split(examples: list[training.Example], seed: int):
    from sklearn.model_selection import train_test_split

    intents = [e.intent for e in examples]
    train_idx, test_idx = train_test_split(
        np.arange(len(examples)),
        test_size=training.TEST_FRACTION,
        random_state=seed,
        stratify=intents,
    )
    return [examples[i] for i in train_idx], [examples[i] for i in test_idx]


def fine_tune(train_rows, test_rows, epochs: int, seed: int) -> tuple[float, float, float]:
    import torch
    from sklearn.metrics import f1_score
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(seed)
    rng = random.Random(seed)
    rows = train_rows + [v for e in train_rows for v in training.augment(e, rng)]
    intents = sorted({e.intent for e in rows})
    acts = sorted({e.act for e in rows})
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir()))
    model = AutoModel.from_pretrained(str(minilm_dir()))
    heads = torch.nn.ModuleDict(
        {"intent": torch.nn.Linear(384, len(intents)), "act": torch.nn.Linear(384, len(acts))}
    )
    params = list(model.parameters()) + list(heads.parameters())
    optimiser = torch.optim.AdamW(params, lr=5e-5, weight_decay=0.01)

    def pooled(texts: list[str]):
        batch = tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    started = time.perf_counter()
    for _ in range(epochs):
        model.train()
        rng.shuffle(rows)
        for i in range(0, len(rows), 32):
            chunk = rows[i : i + 32]
            vectors = pooled([e.text for e in chunk])
            loss = torch.nn.functional.cross_entropy(
                heads["intent"](vectors), torch.tensor([intents.index(e.intent) for e in chunk])
            )
            loss = loss + torch.nn.functional.cross_entropy(
                heads["act"](vectors), torch.tensor([acts.index(e.act) for e in chunk])
            )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    seconds = time.perf_counter() - started
    model.eval()
    predicted = []
    with torch.inference_mode():
        for i in range(0, len(test_rows), 64):
            scores = heads["intent"](pooled([e.text for e in test_rows[i : i + 64]]))
            predicted += [intents[j] for j in scores.argmax(1).tolist()]
    truth = [e.intent for e in test_rows]
    accuracy = float(np.mean([p == t for p, t in zip(predicted, truth, strict=True)]))
    return accuracy, float(f1_score(truth, predicted, average="macro")), seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args()
    examples = training.load_corpus()
    dev = training.dialogue_sentences()
    examples = [e for e in examples if training.normalised(e.text) not in dev]
    train_rows, test_rows = split(examples, training.SEED)
    started = time.perf_counter()
    encoder = training.CachedEncoder(Embedder(), args.cache)
    _, meta = training.train(encoder, examples, log=lambda *_: None)
    encoder.save()
    features = meta["held_out"]["intent"]
    features_s = time.perf_counter() - started
    accuracy, macro, tuned_s = fine_tune(train_rows, test_rows, args.epochs, training.SEED)
    print(f"corpus {len(examples)} lines, held out {len(test_rows)} (same split for both)")
    print("| model | intent accuracy | intent macro F1 | training time |")
    print("| --- | --- | --- | --- |")
    print(
        f"| MiniLM frozen + n-grams, logistic regression (shipped) | "
        f"{features['accuracy']:.3f} | {features['macro_f1']:.3f} | {features_s:.0f} s |"
    )
    print(
        f"| MiniLM fine-tuned, {args.epochs} epochs | {accuracy:.3f} | {macro:.3f} | "
        f"{tuned_s:.0f} s |"
    )


if __name__ == "__main__":
    main()
