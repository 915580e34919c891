"""Load the sample business data (`data/business/*.json`) into the database.

Dates in the files are day offsets from the seed day, so the scenarios (an order due in three
days, an appointment next week) hold whenever the seed runs. Seeding is idempotent: rows are
found by their natural keys (phone, order number, account number, ...) and existing ones are left
alone, so a card blocked during a call stays blocked when the server restarts.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from voice.business.records import to_cents
from voice.store.schema import (
    Account,
    Appointment,
    Card,
    Clinic,
    Customer,
    Order,
    Return,
    create_tables,
)

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "business"
FILES = ("customers", "orders", "accounts", "appointments", "clinic")
# Children before parents, so foreign keys hold while wiping.
WIPE_ORDER = (Return, Card, Appointment, Order, Account, Clinic, Customer)
COUNTED = {
    "customers": Customer,
    "orders": Order,
    "returns": Return,
    "accounts": Account,
    "cards": Card,
    "clinics": Clinic,
    "appointments": Appointment,
}


class SeedError(ValueError):
    """The data directory is missing or a file in it is not what the seed expects."""


def load_data(data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Read and shallowly check every file; the list under each file's key, by file name."""
    if not data_dir.is_dir():
        raise SeedError(f"data directory {data_dir} does not exist")
    data = {}
    for name in FILES:
        path = data_dir / f"{name}.json"
        key = "clinics" if name == "clinic" else name
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))[key]
        except FileNotFoundError:
            raise SeedError(f"{path} is missing") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SeedError(f"{path} is not valid JSON: {exc}") from None
        except (KeyError, TypeError):
            raise SeedError(f"{path} has no {key!r} list") from None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise SeedError(f"{path}: {key!r} must be a list of objects")
        data[name] = rows
    return data


def seed(
    engine: Engine, data_dir: Path | str, *, replace: bool = False, today: date | None = None
) -> dict[str, int]:
    """Insert what is missing; with `replace`, wipe the business tables first.

    Returns the number of rows in each business table afterwards.
    """
    data = load_data(Path(data_dir))
    create_tables(engine)
    day = today or date.today()
    try:
        with Session(engine) as db, db.begin():
            if replace:
                for model in WIPE_ORDER:
                    db.execute(delete(model))
            customers = _seed_customers(db, data["customers"])
            _seed_orders(db, data["orders"], customers, day)
            _seed_accounts(db, data["accounts"], customers, day)
            clinics = _seed_clinics(db, data["clinic"])
            _seed_appointments(db, data["appointments"], customers, clinics, day)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, SeedError):
            raise
        raise SeedError(f"bad business data: {type(exc).__name__}: {exc}") from None
    return counts(engine)


def seed_if_empty(
    engine: Engine, data_dir: Path | str = DEFAULT_DATA_DIR, *, today: date | None = None
) -> dict[str, int] | None:
    """Seed a fresh database on server start; None when customers already exist."""
    create_tables(engine)
    with Session(engine) as db:
        if db.scalar(select(func.count()).select_from(Customer)):
            return None
    return seed(engine, data_dir, today=today)


def counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as db:
        return {
            name: db.scalar(select(func.count()).select_from(model)) or 0
            for name, model in COUNTED.items()
        }


def _offset(day: date, entry: dict[str, Any], key: str) -> date | None:
    return day + timedelta(days=int(entry[key])) if entry.get(key) is not None else None


def _at_noon_utc(day: date | None) -> datetime | None:
    return datetime.combine(day, time(12), tzinfo=UTC) if day else None


def _seed_customers(db: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Phone -> customer id, for every customer in the file."""
    ids = {}
    for row in rows:
        found = db.scalar(select(Customer).where(Customer.phone == row["phone"]))
        if found is None:
            found = Customer(phone=row["phone"], name=row["name"], email=row.get("email", ""))
            db.add(found)
            db.flush()
        ids[row["phone"]] = found.id
    return ids


def _customer(customers: dict[str, int], phone: str) -> int:
    if phone not in customers:
        raise SeedError(f"unknown customer phone {phone!r}")
    return customers[phone]


def _seed_orders(
    db: Session, rows: list[dict[str, Any]], customers: dict[str, int], day: date
) -> None:
    for row in rows:
        number = str(row["number"])
        if db.scalar(select(Order.id).where(Order.number == number)) is None:
            db.add(
                Order(
                    number=number,
                    customer_id=_customer(customers, row["customer"]),
                    status=row["status"],
                    items=list(row["items"]),
                    ordered_on=_offset(day, row, "ordered_day"),
                    shipped_on=_offset(day, row, "shipped_day"),
                    delivered_on=_offset(day, row, "delivered_day"),
                    eta=_offset(day, row, "eta_day") or _offset(day, row, "delivered_day"),
                    carrier=row.get("carrier", ""),
                    tracking=row.get("tracking", ""),
                )
            )
            db.flush()
        if "return" in row:
            _seed_return(db, number, row["return"], row["items"], day)


def _seed_return(
    db: Session, number: str, entry: dict[str, Any], items: list[dict[str, Any]], day: date
) -> None:
    if db.scalar(select(Return.id).where(Return.order_number == number)) is not None:
        return
    refund = sum(to_cents(i["price"]) * int(i.get("qty", 1)) for i in items)
    db.add(
        Return(
            order_number=number,
            reason=entry.get("reason", ""),
            status=entry.get("status", "started"),
            refund_cents=refund,
            created_at=_at_noon_utc(_offset(day, entry, "created_day")),
        )
    )


def _seed_accounts(
    db: Session, rows: list[dict[str, Any]], customers: dict[str, int], day: date
) -> None:
    for row in rows:
        account = db.scalar(select(Account).where(Account.number == row["number"]))
        if account is None:
            account = Account(
                number=row["number"],
                customer_id=_customer(customers, row["customer"]),
                kind=row["kind"],
                balance_cents=to_cents(row["balance"]),
                currency=row.get("currency", "USD"),
            )
            db.add(account)
            db.flush()
        for card in row.get("cards", []):
            _seed_card(db, account.id, card, day)


def _seed_card(db: Session, account_id: int, entry: dict[str, Any], day: date) -> None:
    exists = db.scalar(
        select(Card.id).where(Card.account_id == account_id, Card.last4 == entry["last4"])
    )
    if exists is None:
        db.add(
            Card(
                last4=entry["last4"],
                account_id=account_id,
                status=entry.get("status", "active"),
                blocked_at=_at_noon_utc(_offset(day, entry, "blocked_day")),
            )
        )


def _seed_clinics(db: Session, rows: list[dict[str, Any]]) -> dict[str, Clinic]:
    clinics = {}
    for row in rows:
        place = db.scalar(select(Clinic).where(Clinic.name == row["name"]))
        if place is None:
            place = Clinic(
                name=row["name"],
                address=row.get("address", ""),
                phone=row.get("phone", ""),
                hours=dict(row["hours"]),
                kinds=dict(row["kinds"]),
                doctors=list(row["doctors"]),
                slot_minutes=int(row.get("slot_minutes", 30)),
            )
            db.add(place)
            db.flush()
        clinics[row["name"]] = place
    return clinics


def _open_day(place: Clinic, day: date, step: int) -> date:
    """The nearest day, walking by `step`, on which the clinic is open."""
    for _ in range(7):
        if place.hours.get(day.strftime("%A").lower()):
            return day
        day += timedelta(days=step)
    raise SeedError(f"clinic {place.name!r} is never open")


def _seed_appointments(
    db: Session,
    rows: list[dict[str, Any]],
    customers: dict[str, int],
    clinics: dict[str, Clinic],
    day: date,
) -> None:
    for row in rows:
        place = clinics.get(row["clinic"])
        if place is None:
            raise SeedError(f"unknown clinic {row['clinic']!r}")
        offset = int(row["day"])
        on = _open_day(place, day + timedelta(days=offset), 1 if offset >= 0 else -1)
        starts_at = datetime.combine(on, time.fromisoformat(row["time"]))
        customer_id = _customer(customers, row["customer"])
        exists = db.scalar(
            select(Appointment.id).where(
                Appointment.customer_id == customer_id,
                Appointment.clinic_id == place.id,
                Appointment.starts_at == starts_at,
            )
        )
        if exists is None:
            db.add(
                Appointment(
                    customer_id=customer_id,
                    clinic_id=place.id,
                    kind=row["kind"],
                    doctor=row["doctor"],
                    starts_at=starts_at,
                    minutes=int(place.kinds[row["kind"]]),
                    status=row.get("status", "booked"),
                )
            )


# --- `callcentre seed` ---------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA_DIR,
        metavar="DIR",
        help="folder of business JSON files (default: data/business)",
    )
    parser.add_argument(
        "--replace", action="store_true", help="wipe the business tables first (calls are kept)"
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="SQLAlchemy URL (default: DATABASE_URL or the recordings' SQLite)",
    )


def run(args: argparse.Namespace) -> int:
    from voice.settings import get_settings
    from voice.store.calls import Store

    try:
        data_dir = Path(args.data)
        load_data(data_dir)  # fail before creating a database for nothing
        engine = Store(args.database_url or get_settings().database).engine
        result = seed(engine, data_dir, replace=args.replace)
    except SeedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, count in result.items():
        print(f"{name}: {count}")
    return 0
