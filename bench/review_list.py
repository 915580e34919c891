"""How fast the review pages answer with 10,000 calls in the database.

Seeds synthetic calls (with turns, customers and tags) into a temporary SQLite database, then
times whole HTTP requests to the review routes in-process (query, rendering, response), as a
logged-in manager would make them, and prints median and p95 milliseconds.

    .venv/bin/python bench/review_list.py --calls 10000 --runs 25
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from bench.machine import describe  # noqa: E402
from review.auth import save_manager  # noqa: E402
from review.config import ReviewConfig  # noqa: E402
from review.routes import create_review_router  # noqa: E402
from voice.settings import Settings  # noqa: E402
from voice.store.calls import Store  # noqa: E402
from voice.store.schema import Call, CallTag, Customer, Turn  # noqa: E402

PASSWORD = "bench password 123"
OUTCOMES = ["resolved"] * 70 + ["escalated"] * 18 + ["abandoned"] * 12
RULES = ["human_request", "sustained_negative", "sharp_negative", "repeated_failure", "dtmf_zero"]
TOPICS = [
    "order status",
    "returns",
    "refund",
    "card block",
    "balance",
    "transfer",
    "appointment",
    "opening hours",
    "delivery",
    "complaint",
    "billing",
    "password",
]
CALLER_LINES = [
    "Hi, where is my order {n}? It has not arrived yet.",
    "I would like a refund for order {n}, the item was broken.",
    "Can you block my card ending {n}? I think I lost it.",
    "What is the balance on my current account?",
    "I need to move my appointment on Tuesday to later in the week.",
    "When are you open on Saturday?",
    "This is the third time I call about order {n} and nobody helps.",
    "Please transfer {n} dollars to my savings account.",
    "My order number is {n}.",
    "Yes, that is right. Thank you.",
]
AGENT_LINES = [
    "Order {n} shipped on Monday and should arrive on Thursday.",
    "I have started a return for order {n}; the label is on its way by email.",
    "Your card ending {n} is now blocked. A new one will arrive in five days.",
    "Your current account balance is {n} dollars.",
    "I can move your appointment to Thursday at ten. Shall I book it?",
    "We are open from nine to five on Saturday.",
    "I am sorry about that. Let me check order {n} for you.",
    "Could you tell me your order number, please?",
]
RARE = "chargeback"  # in about 0.5% of calls, to time a selective search


def _turns(rng: random.Random, sid: str, count: int) -> tuple[list[dict], float]:
    rows, t = [], 0.2
    for index in range(count):
        role = "agent" if index % 2 == 0 else "caller"
        text = rng.choice(AGENT_LINES if role == "agent" else CALLER_LINES)
        text = text.format(n=rng.randint(1000, 9999))
        if role == "caller" and rng.random() < 0.006:
            text += f" I will file a {RARE} with my bank."
        length = 1.5 + len(text) / 18
        score = round(rng.uniform(-1, 1), 2) if role == "caller" else None
        rows.append(
            {
                "call_sid": sid,
                "index": index,
                "role": role,
                "text": text,
                "start_s": t,
                "end_s": t + length,
                "language": "en",
                "latency_ms": round(rng.lognormvariate(6.6, 0.35))
                if role == "agent" and index
                else None,
                "interrupted": role == "agent" and rng.random() < 0.05,
                "sentiment_label": "",
                "sentiment_score": score,
                "escalation_probability": round(rng.random(), 2) if score is not None else None,
            }
        )
        t += length + 0.6
    return rows, t


def _call(rng: random.Random, i: int, now: datetime, phones: list[str]) -> tuple[dict, list]:
    sid = f"CA{i:032x}"
    turns, seconds = _turns(rng, sid, rng.randint(4, 16))
    outcome = rng.choice(OUTCOMES)
    started = now - timedelta(seconds=rng.uniform(0, 90 * 86400))
    scores = [t["sentiment_score"] for t in turns if t["sentiment_score"] is not None]
    latencies = sorted(t["latency_ms"] for t in turns if t["latency_ms"] is not None)
    escalated = outcome == "escalated"
    rule = rng.choice(RULES) if escalated else ""
    return {
        "call_sid": sid,
        "stream_sid": f"MZ{i:032x}",
        "caller": rng.choice(phones),
        "started_at": started,
        "ended_at": started + timedelta(seconds=seconds),
        "duration_s": round(seconds, 1),
        "turns": len(turns) // 2,
        "end_reason": "hangup",
        "outcome": outcome,
        "summary": f"Synthetic call {i}.",
        "topics": ", ".join(rng.sample(TOPICS, rng.randint(1, 3))),
        "escalated": escalated,
        "escalation_rule": rule,
        "escalation_reason": f"Synthetic reason for {rule}" if escalated else "",
        "escalation_turn": 3 if escalated else None,
        "min_sentiment": min(scores) if scores else None,
        "median_latency_ms": latencies[len(latencies) // 2] if latencies else None,
        "recording_path": "",
        "events_path": "",
    }, turns


def seed(store: Store, calls: int, rng: random.Random) -> int:
    """Insert `calls` calls with their turns; returns the number of turns."""
    now = datetime.now(UTC)
    phones = [f"+1555{n:07d}" for n in rng.sample(range(10**7), 3000)]
    call_rows, turn_rows = [], []
    for i in range(calls):
        call, turns = _call(rng, i, now, phones)
        call_rows.append(call)
        turn_rows += turns
    with store.engine.begin() as db:
        db.execute(
            insert(Customer.__table__),
            [
                {"phone": p, "name": f"Customer {k}", "email": ""}
                for k, p in enumerate(phones[:2000])
            ],
        )
        db.execute(insert(Call.__table__), call_rows)
        db.execute(insert(Turn.__table__), turn_rows)
    return len(turn_rows)


def tag_some(store: Store, manager_id: int, rng: random.Random, calls: int) -> None:
    rows = [
        {
            "call_sid": f"CA{i:032x}",
            "tag": rng.choice(["coaching", "great", "bug"]),
            "manager_id": manager_id,
            "created_at": datetime.now(UTC),
        }
        for i in rng.sample(range(calls), calls // 50)
    ]
    with store.engine.begin() as db:
        db.execute(insert(CallTag.__table__), rows)


def client_for(store: Store, settings: Settings, search: str) -> TestClient:
    app = FastAPI()
    app.state.store = store
    config = ReviewConfig.of(settings, cookie_secure="never", search=search)
    app.include_router(create_review_router(settings, config))
    client = TestClient(app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/review/login").text).group(
        1
    )
    reply = client.post(
        "/review/login",
        data={"name": "bench", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert reply.status_code == 303, reply.text
    return client


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def matching(url: str, body: str) -> str:
    """How many calls the response covers, as the page itself states it."""
    if ".csv" in url:
        return f"{body.count(chr(10)) - 1:,}"
    found = re.search(r'id="result-count">([\d,]+) call', body) or re.search(
        r'class="kpi-value">([\d,]+)<', body
    )
    return found.group(1) if found else "1"


def time_get(client: TestClient, url: str, runs: int) -> tuple[float, float, str]:
    """(median ms, p95 ms, matching calls) of GET `url`, after one warm-up request."""
    reply = client.get(url)
    assert reply.status_code == 200, (url, reply.status_code)
    rows = matching(url, reply.text)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - start) * 1000)
    return percentile(times, 0.5), percentile(times, 0.95), rows


def cases(phone: str, since: str, sid: str) -> list[tuple[str, str, str]]:
    """(label, search mode, url)."""
    fts, like = "fts", "like"
    return [
        ("list, page 1", fts, "/review/calls"),
        ("list, page 100 (deep)", fts, "/review/calls?page=100"),
        ("filter outcome=escalated", fts, "/review/calls?outcome=escalated"),
        ("filter escalated=no + last 7 days", fts, f"/review/calls?escalated=no&from={since}"),
        ("filter caller (whole number)", fts, f"/review/calls?caller={phone}"),
        ("filter caller (last 4 digits)", fts, f"/review/calls?caller={phone[-4:]}"),
        ("filter tag", fts, "/review/calls?tag=coaching"),
        ("search 'refund' (FTS5)", fts, "/review/calls?q=refund"),
        (f"search '{RARE}' (FTS5)", fts, f"/review/calls?q={RARE}"),
        (
            "search phrase + outcome (FTS5)",
            fts,
            "/review/calls?q=%22order+number%22&outcome=resolved",
        ),
        ("search 'refund' (LIKE fallback)", like, "/review/calls?q=refund"),
        (f"search '{RARE}' (LIKE fallback)", like, f"/review/calls?q={RARE}"),
        (
            "search phrase + outcome (LIKE)",
            like,
            "/review/calls?q=%22order+number%22&outcome=resolved",
        ),
        ("CSV export, escalated=yes", fts, "/review/calls.csv?escalated=yes"),
        ("CSV export, all calls", fts, "/review/calls.csv"),
        ("dashboard, 30 days", fts, "/review/dashboard?days=30"),
        ("dashboard, 90 days", fts, "/review/dashboard?days=90"),
        ("call page", fts, f"/review/calls/{sid}"),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None, RECORDINGS_DIR=tmp, DATABASE_URL=f"sqlite:///{tmp}/bench.db"
        )
        store = Store(settings.database)
        started = time.perf_counter()
        turns = seed(store, args.calls, rng)
        print(
            f"seeded {args.calls:,} calls, {turns:,} turns in "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
        save_manager(store.engine, "bench", PASSWORD)
        tag_some(store, 1, rng, args.calls)
        clients = {mode: client_for(store, settings, mode) for mode in ("fts", "like")}
        started = time.perf_counter()
        clients["fts"].get("/review/calls?q=warmup")  # builds the FTS5 index from scratch
        print(f"first search (indexes every turn): {time.perf_counter() - started:.2f} s")
        since = (datetime.now(UTC) - timedelta(days=6)).date().isoformat()
        with store.engine.connect() as db:
            phone = db.execute(Call.__table__.select().limit(1)).first().caller
        print(f"\n{describe()}\n")
        print("| request | median ms | p95 ms | calls |")
        print("| --- | ---: | ---: | ---: |")
        for label, mode, url in cases(phone, since, f"CA{0:032x}"):
            median, p95, rows = time_get(clients[mode], url, args.runs)
            print(f"| {label} | {median:.1f} | {p95:.1f} | {rows} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
