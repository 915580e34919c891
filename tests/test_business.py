"""Acme's business data: seeding, look-ups, and idempotent actions on a real SQLite file."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateTable

from voice.business import Business
from voice.business.records import AccountInfo, ActionResult
from voice.store import seeding
from voice.store.calls import Store
from voice.store.identifiers import normalise_order_number, normalise_phone
from voice.store.schema import BUSINESS_TABLES, Appointment, Card, Clinic, Return

DATA = Path(__file__).resolve().parent.parent / "data" / "business"
TODAY = date(2026, 3, 4)  # a Wednesday; the data is relative, so any day works
NOW = datetime.combine(TODAY, time(9, 0))
EXPECTED = {
    "customers": 16,
    "orders": 36,
    "returns": 2,
    "accounts": 12,
    "cards": 11,
    "clinics": 2,
    "appointments": 14,
}


def fresh_engine(path: Path) -> sqlalchemy.Engine:
    return Store(f"sqlite:///{path}").engine


@pytest.fixture
def engine(tmp_path: Path) -> sqlalchemy.Engine:
    engine = fresh_engine(tmp_path / "business.db")
    seeding.seed(engine, DATA, today=TODAY)
    return engine


@pytest.fixture
def biz(engine: sqlalchemy.Engine) -> Business:
    return Business(engine, now=lambda: NOW)


def count(engine: sqlalchemy.Engine, model) -> int:
    with Session(engine) as db:
        return db.scalar(select(func.count()).select_from(model))


def customer_id(biz: Business, phone: str) -> int:
    found = biz.customer_by_phone(phone)
    assert found is not None
    return found.id


def next_weekday(after: date, weekday: int) -> date:
    return after + timedelta(days=(weekday - after.weekday() - 1) % 7 + 1)


# --- seeding ---------------------------------------------------------------------------------


def test_seed_counts_and_seeding_twice_changes_nothing(tmp_path: Path):
    engine = fresh_engine(tmp_path / "seed.db")
    assert seeding.seed_if_empty(engine, DATA) == EXPECTED
    assert seeding.seed_if_empty(engine, DATA) is None
    assert seeding.seed(engine, DATA) == EXPECTED


def test_seed_keeps_changes_unless_replaced(engine: sqlalchemy.Engine, biz: Business):
    john = customer_id(biz, "+15550001111")
    assert biz.block_card(john).ok
    seeding.seed(engine, DATA, today=TODAY)
    assert biz.block_card(john).already_done  # a restart must not unblock a card
    assert seeding.seed(engine, DATA, replace=True, today=TODAY) == EXPECTED
    john = customer_id(biz, "+15550001111")
    assert not biz.block_card(john).already_done


@pytest.mark.parametrize("offset", range(7))
def test_seeded_scenarios_hold_whatever_day_the_seed_runs(tmp_path: Path, offset: int):
    today = TODAY + timedelta(days=offset)
    engine = fresh_engine(tmp_path / "day.db")
    seeding.seed(engine, DATA, today=today)
    biz = Business(engine, now=lambda: datetime.combine(today, time(9)))
    maria = biz.customer_by_phone("+15551234567")
    assert maria is not None and maria.name == "Maria Lopez"
    [order] = biz.open_orders(maria.id)
    assert (order.number, order.status, order.carrier) == ("4521", "shipped", "UPS")
    assert today < order.eta <= today + timedelta(days=7)
    with Session(engine) as db:
        for appt in db.scalars(select(Appointment)):
            clinic = db.get(Clinic, appt.clinic_id)
            hours = clinic.hours[appt.starts_at.strftime("%A").lower()]
            assert hours, f"appointment {appt.id} on a day {clinic.name} is closed"
            opens, closes = (time.fromisoformat(h) for h in hours)
            end = appt.starts_at + timedelta(minutes=appt.minutes)
            assert opens <= appt.starts_at.time() and end.time() <= closes


# --- look-ups --------------------------------------------------------------------------------


def test_customers_by_phone_in_any_format(biz: Business):
    for spelling in ("+15551234567", "(555) 123-4567", "1 555 123 4567", "555.123.4567"):
        found = biz.customer_by_phone(spelling)
        assert found is not None and found.name == "Maria Lopez"
    assert biz.customer_by_phone("+15559999999") is None
    assert normalise_phone("5550001111") == "+15550001111"


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("+15551234567", "+15551234567"),
        ("(555) 123-4567", "+15551234567"),
        ("1 555 123 4567", "+15551234567"),
        ("555.123.4567", "+15551234567"),
        ("+44 20 7946 0958", "+442079460958"),
        ("011 44 20 7946 0958", "+442079460958"),  # the US international prefix
        ("4567", "+4567"),  # a fragment keeps its digits (the review app searches by it)
        ("44207946095", "+44207946095"),
        ("no digits", ""),
    ],
)
def test_phone_numbers_are_stored_in_e164(given: str, stored: str):
    assert normalise_phone(given) == stored


def test_orders_and_their_facts(biz: Business):
    maria = customer_id(biz, "+15551234567")
    orders = biz.orders_for(maria)
    assert [o.number for o in orders] == ["4521", "4388", "4102"]  # newest first
    assert [o.number for o in biz.open_orders(maria)] == ["4521"]
    shoes = orders[0]
    assert (shoes.status, shoes.carrier, shoes.eta) == ("shipped", "UPS", date(2026, 3, 7))
    assert shoes.total_cents == 8999 and shoes.tracking.startswith("1Z")
    assert shoes.ordered_on < shoes.shipped_on < TODAY and shoes.delivered_on is None
    john = customer_id(biz, "+15550001111")
    bottles = biz.order("4610")
    assert [(i["name"], i["qty"]) for i in bottles.items] == [
        ("Stainless Steel Water Bottle", 2),
        ("Insulated Lunch Bag", 1),
    ]
    assert bottles.total_cents == 6650 and bottles.customer_id == john


@pytest.mark.parametrize(
    "spoken",
    [
        "4521",
        "#4521",
        "order 45 21",
        "4-5-2-1",
        "four five two one",
        "Four, five, two, one.",
        "forty five twenty one",
        "order number for five to one",
    ],
)
def test_spoken_order_numbers(biz: Business, spoken: str):
    assert normalise_order_number(spoken) == "4521"
    assert biz.order(spoken).number == "4521"


def test_unknown_order_is_none(biz: Business):
    assert biz.order("9999") is None and biz.order("") is None


# --- returns ---------------------------------------------------------------------------------


def test_start_return_once_then_report_it(engine: sqlalchemy.Engine, biz: Business):
    maria = customer_id(biz, "+15551234567")
    first = biz.start_return("4388", "too small", customer_id=maria)
    assert first.ok and not first.already_done
    assert first.reason == "" and first.facts == {
        "order_number": "4388",
        "return_status": "started",
        "refund_cents": 4900,
        "currency": "USD",
        "refund_business_days": 5,
        "label_sent_by": "email",
    }
    again = biz.start_return("four three eight eight", "too small")
    assert again.ok and again.already_done and again.reason == "return_exists"
    assert again.facts["refund_cents"] == 4900 and again.facts["return_status"] == "started"
    assert again.facts["return_started_on"] == datetime.now(UTC).date()
    assert count(engine, Return) == EXPECTED["returns"] + 1
    assert biz.order("4388").return_status == "started"


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("4521", "not_delivered"),
        ("4610", "not_delivered"),
        ("4290", "cancelled"),
        ("4102", "outside_window"),
        ("9999", "unknown_order"),
    ],
)
def test_returns_that_are_refused(
    engine: sqlalchemy.Engine, biz: Business, number: str, reason: str
):
    result = biz.start_return(number, "changed my mind")
    assert not result.ok and not result.already_done
    assert result.reason == reason and result.facts["order_number"] == number
    assert count(engine, Return) == EXPECTED["returns"]


def test_refusals_carry_typed_facts(biz: Business):
    assert biz.return_check("4521").facts == {"order_number": "4521", "status": "shipped"}
    outside = biz.return_check("4102")
    assert outside.reason == "outside_window" and isinstance(outside.facts["delivered_on"], date)
    assert (TODAY - outside.facts["delivered_on"]).days > 30
    assert biz.return_check("4290").facts == {"order_number": "4290"}
    hygiene = biz.return_check("4377")
    assert hygiene.reason == "not_returnable"
    assert hygiene.facts == {"order_number": "4377", "items": ["Electric Toothbrush"]}


def test_a_result_is_facts_and_a_reason_never_a_sentence():
    assert [f.name for f in fields(ActionResult)] == ["ok", "already_done", "reason", "facts"]


def test_return_refused_for_someone_elses_order(biz: Business):
    john = customer_id(biz, "+15550001111")
    result = biz.start_return("4388", "", customer_id=john)
    assert not result.ok and result.reason == "unknown_order"


def test_seeded_return_is_reported_not_repeated(biz: Business):
    result = biz.start_return("4302", "cracked")
    assert result.already_done and result.reason == "return_exists"
    assert result.facts["return_status"] == "refunded"
    assert (result.facts["refund_cents"], result.facts["currency"]) == (3995, "USD")
    assert result.facts["return_started_on"] == TODAY - timedelta(days=15)


# --- bank ------------------------------------------------------------------------------------


def test_account_balances(biz: Business):
    john = customer_id(biz, "+15550001111")
    both = biz.account_balance(john)
    assert both.ok and both.facts == {
        "accounts": [
            AccountInfo("checking", "7731", 234117, "USD"),
            AccountInfo("savings", "7749", 1520000, "USD"),
        ]
    }
    savings = biz.account_balance(john, "Savings")
    assert [a.balance_cents for a in savings.facts["accounts"]] == [1520000]
    maria = customer_id(biz, "+15551234567")
    refused = biz.account_balance(maria, "savings")
    assert not refused.ok and refused.reason == "no_account"
    assert refused.facts == {"kind": "savings"}


def test_block_the_only_active_card_once(engine: sqlalchemy.Engine, biz: Business):
    john = customer_id(biz, "+15550001111")
    first = biz.block_card(john)
    assert (
        first.ok
        and not first.already_done
        and first.facts
        == {
            "card": "4821",
            "card_status": "blocked",
            "replacement_business_days": (5, 7),
        }
    )
    again = biz.block_card(john, "4821")
    assert again.ok and again.already_done and again.reason == "already_blocked"
    assert again.facts["blocked_on"] == datetime.now(UTC).date()
    assert biz.block_card(john).already_done  # no active card left: report the block
    assert count(engine, Card) == EXPECTED["cards"]


def test_block_card_needs_last4_when_ambiguous(biz: Business):
    aisha = customer_id(biz, "+15550102030")
    which = biz.block_card(aisha)
    assert not which.ok and which.reason == "which_card"
    assert which.facts == {"active_cards": ["5512", "9087"]}
    blocked = biz.block_card(aisha, "card ending 9087")
    assert blocked.ok and blocked.facts["card"] == "9087"
    assert biz.block_card(aisha).facts["card"] == "5512"  # now only one is active


def test_block_card_refusals_and_already_blocked(biz: Business):
    maria = customer_id(biz, "+15551234567")
    old = biz.block_card(maria, "1190")
    assert old.ok and old.already_done and old.reason == "already_blocked"
    assert old.facts["card_status"] == "blocked"
    unknown = biz.block_card(maria, "4821")  # John's card: not on Maria's accounts
    assert not unknown.ok and unknown.reason == "unknown_card"
    assert unknown.facts == {"card": "4821"}
    kwame = customer_id(biz, "+15550125566")
    assert biz.block_card(kwame).reason == "no_card"
    hannah = customer_id(biz, "+15550119090")  # one blocked, one active card
    assert biz.block_card(hannah).facts["card"] == "7781"


# --- clinics ---------------------------------------------------------------------------------


def test_free_slots_follow_clinic_hours(biz: Business):
    monday = next_weekday(TODAY + timedelta(days=1), 0)
    slots = biz.free_slots(monday, "Checkup")
    assert slots[0] == datetime.combine(monday, time(8, 0))
    assert slots[-1] == datetime.combine(monday, time(17, 30))
    assert all(s.minute in (0, 30) for s in slots)
    saturday = next_weekday(TODAY, 5)
    assert biz.free_slots(saturday, "check-up")[-1] == datetime.combine(saturday, time(12, 30))
    assert biz.free_slots(saturday, "dental cleaning") == []  # dental is closed at weekends
    assert biz.free_slots(next_weekday(TODAY, 6), "check-up") == []
    assert biz.free_slots(monday, "massage") == []
    assert biz.free_slots(TODAY, "check-up")[0] == datetime.combine(TODAY, time(9, 30))  # future


def test_book_once_and_fill_a_slot(engine: sqlalchemy.Engine, biz: Business):
    day = next_weekday(TODAY + timedelta(days=1), 1)
    slot = datetime.combine(day, time(14, 0))
    ben, liam, grace = (
        customer_id(biz, p) for p in ("+15550104242", "+15550178989", "+15550191515")
    )
    booked = biz.book_appointment(ben, slot, "blood test")
    assert booked.ok and not booked.already_done
    assert booked.facts["starts_at"] == slot and booked.facts["clinic"] == "Acme Health Downtown"
    assert (booked.facts["kind"], booked.facts["status"]) == ("blood test", "booked")
    assert isinstance(booked.facts["appointment_id"], int) and booked.facts["doctor"]
    again = biz.book_appointment(ben, slot, "blood test")
    assert again.ok and again.already_done and again.reason == "already_booked"
    assert again.facts["appointment_id"] == booked.facts["appointment_id"]
    assert count(engine, Appointment) == EXPECTED["appointments"] + 1
    assert biz.book_appointment(liam, slot, "blood test").ok  # the second doctor
    assert slot not in biz.free_slots(day, "blood test")
    full = biz.book_appointment(grace, slot, "blood test")
    assert not full.ok and full.reason == "slot_unavailable" and not full.facts["just_taken"]
    assert full.facts["alternatives"] == [  # the nearest, earliest first
        datetime.combine(day, time(13, 0)),
        datetime.combine(day, time(13, 30)),
        datetime.combine(day, time(14, 30)),
    ]
    assert [a.kind for a in biz.appointments_for(ben)] == ["blood test"]


@pytest.mark.parametrize("action", ["book", "move"])
def test_a_slot_taken_between_check_and_write_is_reported_as_just_taken(
    biz: Business, monkeypatch: pytest.MonkeyPatch, action: str
):
    """The unique slot index is the last line: when the check still saw the slot free (another
    call's booking landed in between), the write fails and the caller hears it was just taken."""
    day = next_weekday(TODAY + timedelta(days=1), 1)
    slot = datetime.combine(day, time(14, 0))
    ben, liam, grace = (
        customer_id(biz, p) for p in ("+15550104242", "+15550178989", "+15550191515")
    )
    assert biz.book_appointment(ben, slot, "blood test").ok  # both blood-test doctors now
    assert biz.book_appointment(liam, slot, "blood test").ok  # busy at 2 PM
    real_free, stale = Business._free, [(slot, "Dr. James Whitfield")]

    def free_once_stale(self, db, place, when, kind, ignore=None, *, doctor=None):
        view = stale.copy() or real_free(self, db, place, when, kind, ignore, doctor=doctor)
        stale.clear()  # the retry sees the database as it is
        return view

    monkeypatch.setattr(Business, "_free", free_once_stale)
    if action == "book":
        result = biz.book_appointment(grace, slot, "blood test")
    else:
        stale.clear()
        moving = biz.book_appointment(grace, slot + timedelta(hours=2), "blood test")
        stale.append((slot, "Dr. James Whitfield"))
        result = biz.move_appointment(int(moving.facts["appointment_id"]), slot, customer_id=grace)
    assert not result.ok and result.reason == "slot_unavailable"
    assert result.facts["just_taken"] and result.facts["starts_at"] == slot
    assert [a.time() for a in result.facts["alternatives"]] == [
        time(13, 0),
        time(13, 30),
        time(14, 30),
    ]
    blood_tests = [a.starts_at for a in biz.appointments_for(grace) if a.kind == "blood test"]
    assert blood_tests == ([] if action == "book" else [slot + timedelta(hours=2)])


def test_booking_refusals(biz: Business):
    ben = customer_id(biz, "+15550104242")
    day = next_weekday(TODAY + timedelta(days=1), 2)
    closed = biz.book_appointment(ben, datetime.combine(day, time(3, 0)), "check-up")
    assert not closed.ok and closed.reason == "slot_unavailable"
    assert closed.facts["alternatives"][0] == datetime.combine(day, time(8, 0))
    unknown = biz.book_appointment(ben, datetime.combine(day, time(10, 0)), "massage")
    assert unknown.reason == "unknown_kind" and unknown.facts == {"kind": "massage"}
    past = biz.book_appointment(ben, NOW - timedelta(days=1), "check-up")
    assert not past.ok


def test_move_and_cancel_appointments(engine: sqlalchemy.Engine, biz: Business):
    maria = customer_id(biz, "+15551234567")
    [appt] = biz.appointments_for(maria)
    new_time = datetime.combine(appt.starts_at.date() + timedelta(days=1), time(15, 0))
    if new_time.weekday() >= 5:
        new_time = datetime.combine(next_weekday(new_time.date(), 0), time(15, 0))
    moved = biz.move_appointment(appt.id, new_time, customer_id=maria)
    assert moved.ok and not moved.already_done and moved.facts["status"] == "moved"
    assert moved.facts["starts_at"] == new_time and moved.facts["appointment_id"] == appt.id
    same = biz.move_appointment(appt.id, new_time)
    assert same.already_done and same.reason == "already_set"
    assert [a.starts_at for a in biz.appointments_for(maria)] == [new_time]
    john = customer_id(biz, "+15550001111")
    stranger = biz.move_appointment(appt.id, new_time + timedelta(hours=1), customer_id=john)
    assert stranger.reason == "unknown_appointment"
    cancelled = biz.cancel_appointment(appt.id, customer_id=maria)
    assert cancelled.ok and not cancelled.already_done
    assert cancelled.facts["status"] == "cancelled" and cancelled.facts["starts_at"] == new_time
    again = biz.cancel_appointment(appt.id)
    assert again.already_done and again.reason == "already_cancelled"
    assert not biz.move_appointment(appt.id, new_time + timedelta(hours=1)).ok
    assert count(engine, Appointment) == EXPECTED["appointments"]


def test_changes_within_24_hours_are_refused(biz: Business, engine: sqlalchemy.Engine):
    wei = customer_id(biz, "+15550147788")
    [appt] = biz.appointments_for(wei)
    late = Business(engine, now=lambda: appt.starts_at - timedelta(hours=2))
    result = late.move_appointment(appt.id, appt.starts_at + timedelta(days=7))
    assert not result.ok and result.reason == "too_late"
    assert result.facts == {
        "appointment_id": appt.id,
        "kind": appt.kind,
        "starts_at": appt.starts_at,
    }
    assert late.cancel_appointment(appt.id).reason == "too_late"


# --- portability and the CLI -----------------------------------------------------------------


def test_tables_use_portable_types():
    for table in BUSINESS_TABLES:
        ddl = str(CreateTable(table).compile(dialect=postgresql.dialect()))
        assert table.name in ddl
        for column in table.columns:
            # Generic SQLAlchemy types only: no SQLite- or Postgres-only column types.
            assert type(column.type).__module__ == "sqlalchemy.sql.sqltypes", column


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    seeding.add_arguments(parser)
    return parser.parse_args(argv)


def test_cli_seed_prints_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert seeding.run(parse("--data", str(DATA), "--database-url", url)) == 0
    assert "customers: 16" in capsys.readouterr().out
    assert seeding.run(parse("--data", str(DATA), "--database-url", url, "--replace")) == 0
    assert "orders: 36" in capsys.readouterr().out


def test_cli_seed_rejects_a_missing_or_broken_data_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert seeding.run(parse("--data", str(tmp_path / "nowhere"), "--database-url", url)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in seeding.FILES:
        (broken / f"{name}.json").write_text((DATA / f"{name}.json").read_text())
    (broken / "orders.json").write_text("{not json")
    assert seeding.run(parse("--data", str(broken), "--database-url", url)) == 2
    assert capsys.readouterr().err.startswith("error:")
    (broken / "orders.json").write_text(json.dumps({"orders": [{"number": "1"}]}))
    assert seeding.run(parse("--data", str(broken), "--database-url", url)) == 2
    assert "error:" in capsys.readouterr().err


def test_return_check_says_why_without_changing_anything(biz: Business, engine):
    before = count(engine, Return)
    assert biz.return_check("4521").reason == "not_delivered"
    assert biz.return_check("4290").reason == "cancelled"
    assert biz.return_check("4415").already_done  # Sofia's return exists already
    assert biz.return_check("4388") is None
    assert biz.return_check("4388", customer_id=999).reason == "unknown_order"
    assert count(engine, Return) == before


def test_returnable_orders_are_delivered_inside_the_window_without_a_return(biz: Business):
    maria = biz.customer_by_phone("+15551234567")
    assert [o.number for o in biz.returnable_orders(maria.id)] == ["4388"]  # 4102 is too old


def test_cards_for_a_customer(biz: Business):
    aisha = biz.customer_by_phone("+15550102030")
    assert [(c.last4, c.status) for c in biz.cards_for(aisha.id)] == [
        ("5512", "active"),
        ("9087", "active"),
    ]


@pytest.mark.parametrize(
    ("said", "kind"),
    [
        ("checkup", "check-up"),
        ("Check-up", "check-up"),
        ("cleaning", "dental cleaning"),
        ("dental check-up", "dental check-up"),
        ("vaccination", "vaccination"),
        ("massage", None),
    ],
)
def test_appointment_kind_as_the_clinic_names_it(biz: Business, said, kind):
    assert biz.appointment_kind(said) == kind


def test_order_numbers_lists_every_order(biz: Business):
    numbers = biz.order_numbers()
    assert len(numbers) == EXPECTED["orders"] and numbers == sorted(numbers)
