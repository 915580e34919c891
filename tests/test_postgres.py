"""The store, business data, caller history, callbacks, retention and migrations on SQLite and
on a real PostgreSQL server (TEST_POSTGRES_URL; `.ci/run` starts one and sets it).

Each PostgreSQL test gets a schema of its own (through `search_path`), dropped afterwards, so
runs never see each other's rows and the database needs no superuser.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from voice.business import Business
from voice.store import seeding
from voice.store.callbacks import pending_callbacks, request_callback
from voice.store.calls import Store, migrate
from voice.store.history import CallerHistory, record_outcome
from voice.store.retention import purge
from voice.store.schema import Appointment, Base, Call, Clinic, Turn

DATA = Path(__file__).resolve().parent.parent / "data" / "business"
TODAY = date(2026, 3, 4)
MARIA, JOHN = "+15551234567", "+15550001111"
HEAD = "0004"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    base = os.environ.get("TEST_POSTGRES_URL")
    if not base:
        pytest.skip("TEST_POSTGRES_URL is not set (.ci/run starts PostgreSQL and sets it)")
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(base)
    with admin.begin() as db:
        db.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as db:
            db.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    store = Store(db_url)
    yield store
    store.engine.dispose()  # no idle connection may hold the schema that is dropped next


def start(
    store: Store, sid: str, caller: str = MARIA, recording: str = "", events: str = ""
) -> None:
    store.start_call(sid, caller, f"MZ{sid}", recording_path=recording, events_path=events)


def test_a_call_round_trip(store: Store):
    start(store, "CA1")
    store.add_turn("CA1", "agent", "Hello, how can I help?", 0.0, 1.5, latency_ms=None)
    store.add_turn("CA1", "caller", "Where is my order?", 2.0, 3.0, language="en")
    store.set_sentiment("CA1", "negative", -0.5, 0.3)
    store.add_turn("CA1", "agent", "It ships today.", 3.5, 5.0, latency_ms=640.0)
    store.set_escalation("CA1", "asked_for_person", "asked for a person", 1)
    store.finish_call("CA1", "caller_hangup")
    store.finish_call("CA1", "again")  # a second finish changes nothing
    call = store.get_call("CA1")
    assert call is not None and call.end_reason == "caller_hangup" and call.turns == 1
    assert [t.role for t in call.turn_rows] == ["agent", "caller", "agent"]
    assert [t.index for t in call.turn_rows] == [0, 1, 2]
    assert call.turn_rows[1].sentiment_label == "negative" and call.min_sentiment == -0.5
    assert call.escalated and call.escalation_rule == "asked_for_person"
    assert call.median_latency_ms == 640.0 and call.duration_s >= 0
    assert store.get_call("CA404") is None
    store.add_turn("CA404", "caller", "nobody", 0, 1)  # no such call: ignored, no error
    assert [c.call_sid for c in store.recent_calls()] == ["CA1"]


def test_business_actions(store: Store):
    seeding.seed(store.engine, DATA, today=TODAY)
    assert seeding.seed_if_empty(store.engine, DATA) is None
    biz = Business(store.engine, now=lambda: datetime.combine(TODAY, time(9)))
    maria = biz.customer_by_phone("(555) 123-4567")
    assert maria is not None and maria.name == "Maria Lopez"
    assert [o.number for o in biz.open_orders(maria.id)] == ["4521"]
    first = biz.start_return("4388", "too small", customer_id=maria.id)
    assert first.ok and not first.already_done and first.facts["refund_cents"] == 4900
    assert biz.start_return("4388", "too small").already_done
    john = biz.customer_by_phone(JOHN)
    assert biz.block_card(john.id).ok and biz.block_card(john.id).already_done
    balances = biz.account_balance(john.id).facts["accounts"]
    assert [(a.ending, a.balance_cents) for a in balances] == [("7731", 234117), ("7749", 1520000)]
    day = TODAY + timedelta(days=(1 - TODAY.weekday()) % 7 or 7)  # next Tuesday
    slot, later = datetime.combine(day, time(14)), datetime.combine(day, time(15, 30))
    booked = biz.book_appointment(maria.id, slot, "blood test")
    assert booked.ok and not booked.already_done and booked.facts["starts_at"] == slot
    again = biz.book_appointment(maria.id, slot, "blood test")
    assert again.ok and again.already_done
    appointment = int(booked.facts["appointment_id"])
    moved = biz.move_appointment(appointment, later, customer_id=maria.id)
    assert moved.ok and not moved.already_done and moved.facts["starts_at"] == later
    assert biz.move_appointment(appointment, later, customer_id=maria.id).already_done
    cancelled = biz.cancel_appointment(appointment, customer_id=maria.id)
    assert cancelled.ok and not cancelled.already_done
    assert biz.cancel_appointment(appointment, customer_id=maria.id).already_done
    with Session(store.engine) as db:
        rows = db.scalars(
            select(Appointment).where(
                Appointment.customer_id == maria.id, Appointment.kind == "blood test"
            )
        ).all()
    assert [(r.starts_at, r.status) for r in rows] == [(later, "cancelled")]
    assert slot in biz.free_slots(day, "blood test")  # moving freed the first time


def test_two_calls_booking_one_slot_at_once_get_it_once(store: Store):
    """Both callers heard the slot was free; only one booking may land, the other is told."""
    seeding.seed(store.engine, DATA, today=TODAY)
    biz = Business(store.engine, now=lambda: datetime.combine(TODAY, time(9)))
    slot = datetime.combine(TODAY + timedelta(days=7), time(14))  # Wednesday: all doctors free
    phones = (MARIA, JOHN, "+15550102030", "+15550147788")
    callers = [biz.customer_by_phone(p).id for p in phones]
    with Session(store.engine) as db:  # two doctors give vaccinations: two bookings fit
        clinic = db.scalars(select(Clinic).where(Clinic.name == "Acme Health Downtown")).one()
        assert len([d for d in clinic.doctors if "vaccination" in d["kinds"]]) == 2
    start, results = threading.Barrier(len(callers)), []

    def book(customer_id: int) -> None:
        start.wait()
        results.append(biz.book_appointment(customer_id, slot, "vaccination"))

    workers = [threading.Thread(target=book, args=(c,)) for c in callers]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(r.ok for r in results) == [False, False, True, True], results
    assert all(r.reason == "slot_unavailable" for r in results if not r.ok)
    with Session(store.engine) as db:
        doctors = db.scalars(
            select(Appointment.doctor).where(
                Appointment.starts_at == slot, Appointment.status == "booked"
            )
        ).all()
    assert sorted(doctors) == ["Dr. Amara Osei", "Dr. Elena Morales"]


def test_the_slot_index_refuses_a_second_active_booking(store: Store):
    """The database itself holds the line, whatever code writes: a cancelled row frees the
    slot, an active one doesn't."""
    seeding.seed(store.engine, DATA, today=TODAY)
    with Session(store.engine) as db:
        first = db.scalars(select(Appointment).where(Appointment.status == "booked")).first()
        twin = {
            c: getattr(first, c)
            for c in ("customer_id", "clinic_id", "kind", "doctor", "starts_at", "minutes")
        }
    with Session(store.engine) as db, db.begin():
        db.add(Appointment(**twin, status="cancelled"))
    with pytest.raises(IntegrityError), Session(store.engine) as db, db.begin():
        db.add(Appointment(**twin, status="moved"))


def test_caller_history_and_callbacks(store: Store):
    seeding.seed(store.engine, DATA, today=TODAY)
    history = CallerHistory(
        store.engine, Business(store.engine, now=lambda: datetime.combine(TODAY, time(9)))
    )
    for i in range(4):
        start(store, f"CA{i}", JOHN)
        store.finish_call(f"CA{i}", "caller_hangup")
        assert record_outcome(store.engine, f"CA{i}", f"call {i}", "resolved", ["billing"])
    start(store, "CA9", JOHN)
    profile = history.profile(JOHN, exclude_call_sid="CA9")
    assert profile is not None and profile.name.startswith("John")
    assert [c.summary for c in profile.recent_calls] == ["call 3", "call 2", "call 1"]
    assert profile.recent_calls[0].topics == ["billing"]
    assert not record_outcome(store.engine, "CA404", "x", "resolved", [])
    first = request_callback(
        store.engine,
        call_sid="CA9",
        phone=JOHN,
        name="John",
        reason="transfer failed",
        summary="wants a person",
    )
    assert [c.id for c in pending_callbacks(store.engine)] == [first]


def test_retention_purges_old_calls(store: Store, tmp_path: Path):
    recordings = tmp_path / "recordings"
    now = datetime(2026, 3, 4, 12, tzinfo=UTC)
    for sid, age in (("CAold", 40), ("CAnew", 2)):
        day = recordings / (now - timedelta(days=age)).strftime("%Y-%m-%d")
        day.mkdir(parents=True)
        wav, jsonl = day / f"{sid}.wav", day / f"{sid}.jsonl"
        wav.write_bytes(b"RIFF")
        jsonl.write_text("{}\n")
        start(store, sid, recording=str(wav), events=str(jsonl))
        store.add_turn(sid, "caller", "my card is 4111", 0, 1)
        store.finish_call(sid, "caller_hangup")
        with store.engine.begin() as db:
            db.execute(
                update(Call)
                .where(Call.call_sid == sid)
                .values(started_at=now - timedelta(days=age))
            )
    report = purge(store, recordings, 30, now=now)
    assert report.calls == ["CAold"] and report.turns == 1 and len(report.files) == 2
    with Session(store.engine) as db:
        assert db.scalars(select(Call.call_sid)).all() == ["CAnew"]
        assert db.scalars(select(Turn.call_sid)).all() == ["CAnew"]
    assert sorted(p.name for p in recordings.rglob("*") if p.is_file()) == [
        "CAnew.jsonl",
        "CAnew.wav",
    ]


def test_migrations_match_the_models(store: Store):
    """A model changed without a migration fails here: write one
    (`alembic revision --autogenerate -m ...`)."""

    def ours(obj, name, type_, reflected, compare_to) -> bool:
        return not (type_ == "table" and reflected and compare_to is None)

    with store.engine.connect() as db:
        context = MigrationContext.configure(
            db, opts={"include_object": ours, "compare_type": True}
        )
        assert compare_metadata(context, Base.metadata) == []
        assert db.scalar(text("SELECT version_num FROM alembic_version")) == HEAD


def test_the_slot_index_is_added_in_place_unless_a_slot_is_double_booked(store: Store):
    """An existing database gains the index on upgrade; one that already holds two active
    bookings for a slot stops with them named, and upgrades once a person has fixed them."""
    seeding.seed(store.engine, DATA, today=TODAY)
    with store.engine.begin() as db:  # as a database at 0001 with a double booking
        db.execute(text("DROP INDEX uq_appointments_active_slot"))
        db.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    with Session(store.engine) as db, db.begin():
        first = db.scalars(select(Appointment).where(Appointment.status == "booked")).first()
        first_id = first.id
        db.add(
            Appointment(
                **{
                    c: getattr(first, c)
                    for c in ("customer_id", "clinic_id", "kind", "doctor", "starts_at", "minutes")
                },
                status="booked",
            )
        )
    with pytest.raises(RuntimeError, match=r"double-booked.*\(2 bookings\)"):
        migrate(store.engine)
    with store.engine.begin() as db:
        db.execute(update(Appointment).where(Appointment.id == first_id).values(status="cancelled"))
    migrate(store.engine)
    test_migrations_match_the_models(store)  # the index is there, the version is the head


def test_starting_twice_and_concurrently_is_safe(db_url: str):
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            Store(db_url).engine.dispose()
        except BaseException as exc:
            errors.append(exc)

    if make_url(db_url).get_backend_name() == "postgresql":  # the advisory lock serialises
        workers = [threading.Thread(target=open_store) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    open_store()
    open_store()
    assert errors == []


def old_schema() -> MetaData:
    """The first store's tables as `create_all` made them: no worker, outcome, sentiment or
    escalation columns, no business tables."""
    old = MetaData()
    Table(
        "calls",
        old,
        Column("call_sid", String(64), primary_key=True),
        Column("stream_sid", String(64), nullable=False),
        Column("caller", String(32), nullable=False, index=True),
        Column("started_at", DateTime(timezone=True), nullable=False, index=True),
        Column("ended_at", DateTime(timezone=True)),
        Column("duration_s", Float),
        Column("turns", Integer, nullable=False),
        Column("end_reason", String(32), nullable=False),
        Column("recording_path", Text, nullable=False),
        Column("events_path", Text, nullable=False),
    )
    Table(
        "turns",
        old,
        Column("id", Integer, primary_key=True),
        Column("call_sid", ForeignKey("calls.call_sid"), nullable=False, index=True),
        Column("index", Integer, nullable=False),
        Column("role", String(8), nullable=False),
        Column("text", Text, nullable=False),
        Column("start_s", Float, nullable=False),
        Column("end_s", Float, nullable=False),
        Column("language", String(8), nullable=False),
        Column("latency_ms", Float),
        Column("interrupted", Boolean, nullable=False),
    )
    return old


def test_a_database_from_before_migrations_is_upgraded_in_place(db_url: str):
    """The first store's schema with a call in it keeps its rows and gains what is missing."""
    engine, old = create_engine(db_url), old_schema()
    old.create_all(engine)
    began = datetime(2026, 1, 5, 10, tzinfo=UTC)
    with engine.begin() as db:
        db.execute(
            old.tables["calls"]
            .insert()
            .values(
                call_sid="CAold",
                stream_sid="MZold",
                caller=JOHN,
                started_at=began,
                ended_at=began + timedelta(minutes=1),
                duration_s=60.0,
                turns=1,
                end_reason="caller_hangup",
                recording_path="a.wav",
                events_path="a.jsonl",
            )
        )
        db.execute(
            old.tables["turns"]
            .insert()
            .values(
                call_sid="CAold",
                index=0,
                role="caller",
                text="hello",
                start_s=0,
                end_s=1,
                language="en",
                interrupted=False,
            )
        )
    engine.dispose()

    store = Store(db_url)
    try:
        columns = {c["name"] for c in inspect(store.engine).get_columns("calls")}
        assert {"worker", "outcome", "summary", "escalated", "min_sentiment"} <= columns
        assert inspect(store.engine).has_table("orders")
        old = store.get_call("CAold")
        assert old is not None and old.caller == JOHN and old.duration_s == 60.0
        assert (old.worker, old.outcome, old.escalated, old.min_sentiment) == ("", "", False, None)
        assert [t.text for t in old.turn_rows] == ["hello"]
        assert old.turn_rows[0].sentiment_label == ""
        store.set_escalation("CAold", "sharp", "upset", 0)  # new columns are writable
        assert record_outcome(store.engine, "CAold", "said hello", "escalated", [])
        start(store, "CAnew", JOHN)
        store.add_turn("CAnew", "caller", "hi again", 0, 1)
        with store.engine.connect() as db:
            assert db.scalar(text("SELECT version_num FROM alembic_version")) == HEAD
        test_migrations_match_the_models(store)
    finally:
        store.engine.dispose()
