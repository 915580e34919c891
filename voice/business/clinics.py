"""The clinics: their kinds of appointment, doctors and opening days, free slots, and booking,
moving and cancelling appointments.

Every change is idempotent, and two calls booking one slot at once get it once: bookings are
checked one at a time per clinic, and a unique index on the active slot backs that up in the
database (SQLite and Postgres alike). A change needs 24 hours' notice.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from voice.business.line import Line
from voice.business.records import (
    ActionResult,
    AppointmentInfo,
    ClinicInfo,
    appointment_facts,
    appointment_info,
    clinic_info,
    refused,
)
from voice.store.schema import ACTIVE_APPOINTMENT_STATUSES, Appointment, Clinic, Customer

CHANGE_NOTICE = timedelta(hours=24)  # the clinics' rule for moving or cancelling
ALTERNATIVES_OFFERED = 3  # free times offered when the one asked for is taken
# data/knowledge/opening-hours.md: the clinics close on these public holidays, and at 2 PM on
# Christmas Eve and New Year's Eve.
CLOSED_HOLIDAYS = (
    "New Year's Day",
    "Memorial Day",
    "Independence Day",
    "Labor Day",
    "Thanksgiving Day",
    "Christmas Day",
)
EARLY_CLOSING = ((12, 24), (12, 31))
EARLY_CLOSING_TIME = time(14, 0)


def kind_key(text: str) -> str:
    """Compare appointment kinds the way people say them: 'Checkup' == 'check-up'."""
    return re.sub(r"[^a-z]", "", text.lower()).removesuffix("s")


def _local_naive(moment: datetime) -> datetime:
    return moment.astimezone().replace(tzinfo=None) if moment.tzinfo else moment


class Clinics(Line):
    # look-ups

    def appointments_for(
        self, customer_id: int, *, include_past: bool = False
    ) -> list[AppointmentInfo]:
        """Soonest first; cancelled ones included so the agent can say so."""
        query = (
            select(Appointment, Clinic.name)
            .join(Clinic, Appointment.clinic_id == Clinic.id)
            .where(Appointment.customer_id == customer_id)
            .order_by(Appointment.starts_at)
        )
        if not include_past:
            query = query.where(Appointment.starts_at >= self._now())
        with Session(self.engine) as db:
            return [appointment_info(row, name) for row, name in db.execute(query)]

    def appointment_kind(self, said: str) -> str | None:
        """The kind of appointment a clinic offers for what the caller said ('cleaning' ->
        'dental cleaning'), or None when no clinic offers it."""
        with Session(self.engine) as db:
            found = _clinic_for(db, said, None)
            return found[1] if found else None

    def appointment_kinds(self) -> list[str]:
        with Session(self.engine) as db:
            return [
                k for place in db.scalars(select(Clinic).order_by(Clinic.id)) for k in place.kinds
            ]

    def free_slots(
        self,
        day: date,
        kind: str,
        clinic: str | None = None,
        *,
        ignore: int | None = None,
        doctor: str | None = None,
    ) -> list[datetime]:
        """Start times on `day` when a doctor who does `kind` (or that doctor) is free, within
        clinic hours; `ignore` leaves out an appointment being moved."""
        with Session(self.engine) as db:
            found = _clinic_for(db, kind, clinic)
            if found is None:
                return []
            place, canonical = found
            return [
                start
                for start, who in self._free(db, place, day, canonical, ignore, doctor=doctor)
                if doctor is None or who == doctor
            ]

    def closed_reason(self, kind: str, day: date) -> str | None:
        """Why the clinic that offers `kind` takes no appointments on `day` (a reason code:
        'weekday' or a public holiday's name), or None when it is open."""
        with Session(self.engine) as db:
            found = _clinic_for(db, kind, None)
            if found is None:
                return None
            place, _ = found
            holiday = _holiday(day)
            if holiday:
                return holiday
            if not (place.hours or {}).get(day.strftime("%A").lower()):
                return "weekday"
            return None

    def clinic_for_kind(self, kind: str) -> ClinicInfo | None:
        with Session(self.engine) as db:
            found = _clinic_for(db, kind, None)
            return clinic_info(found[0]) if found else None

    def clinics(self) -> list[ClinicInfo]:
        with Session(self.engine) as db:
            return [clinic_info(c) for c in db.scalars(select(Clinic).order_by(Clinic.id))]

    def doctors(self) -> list[str]:
        return [d for c in self.clinics() for d in c.doctors]

    def appointment(self, appointment_id: int) -> AppointmentInfo | None:
        with Session(self.engine) as db:
            row = db.get(Appointment, appointment_id)
            return _info(db, row) if row else None

    def change_check(
        self, appointment_id: int, *, customer_id: int | None = None
    ) -> ActionResult | None:
        """Why an appointment can't be moved or cancelled now (24 hours' notice), or None.

        Changes nothing: asked before the caller is asked to confirm a change."""
        with Session(self.engine) as db:
            return self._change_refusal(db.get(Appointment, appointment_id), customer_id)

    # actions

    def book_appointment(
        self,
        customer_id: int,
        starts_at: datetime,
        kind: str,
        clinic: str | None = None,
        *,
        doctor: str | None = None,
    ) -> ActionResult:
        starts_at = _local_naive(starts_at)
        try:
            return self._book(customer_id, starts_at, kind, clinic, doctor=doctor)
        except IntegrityError:
            # Another call took the slot between our check and insert: say so, offer others.
            return self._book(customer_id, starts_at, kind, clinic, just_taken=True, doctor=doctor)

    def _book(
        self,
        customer_id: int,
        starts_at: datetime,
        kind: str,
        clinic: str | None,
        just_taken: bool = False,
        doctor: str | None = None,
    ) -> ActionResult:
        with Session(self.engine) as db, db.begin():
            if db.get(Customer, customer_id) is None:
                return refused("unknown_customer")
            found = _clinic_for(db, kind, clinic)
            if found is None:
                return refused("unknown_kind", kind=kind)
            place, canonical = found
            _lock_clinic(db, place.id)
            existing = db.scalar(
                select(Appointment).where(
                    Appointment.customer_id == customer_id,
                    Appointment.starts_at == starts_at,
                    Appointment.status.in_(ACTIVE_APPOINTMENT_STATUSES),
                )
            )
            if existing is not None:
                return ActionResult(
                    ok=True,
                    already_done=True,
                    reason="already_booked",
                    facts=appointment_facts(_info(db, existing)),
                )
            free = self._free(db, place, starts_at.date(), canonical, doctor=doctor)
            doctor = dict(free).get(starts_at)
            if doctor is None:
                return self._slot_taken(db, place, canonical, starts_at, just_taken=just_taken)
            row = Appointment(
                customer_id=customer_id,
                clinic_id=place.id,
                kind=canonical,
                doctor=doctor,
                starts_at=starts_at,
                minutes=int(place.kinds[canonical]),
                status="booked",
            )
            db.add(row)
            db.flush()
            return ActionResult(ok=True, facts=appointment_facts(appointment_info(row, place.name)))

    def move_appointment(
        self, appointment_id: int, new_starts_at: datetime, *, customer_id: int | None = None
    ) -> ActionResult:
        new_starts_at = _local_naive(new_starts_at)
        try:
            return self._move(appointment_id, new_starts_at, customer_id)
        except IntegrityError:  # another call took the new slot first, as when booking
            return self._move(appointment_id, new_starts_at, customer_id, just_taken=True)

    def _move(
        self,
        appointment_id: int,
        new_starts_at: datetime,
        customer_id: int | None,
        just_taken: bool = False,
    ) -> ActionResult:
        with Session(self.engine) as db, db.begin():
            row = db.get(Appointment, appointment_id)
            if row is not None:
                _lock_clinic(db, row.clinic_id)
                db.refresh(row)  # read before the lock: another call may have changed it
            refusal = self._change_refusal(row, customer_id)
            if refusal is not None:
                return refusal
            assert row is not None
            place = db.get(Clinic, row.clinic_id)
            assert place is not None
            if row.starts_at == new_starts_at:
                return ActionResult(
                    ok=True,
                    already_done=True,
                    reason="already_set",
                    facts=appointment_facts(appointment_info(row, place.name)),
                )
            free = dict(self._free(db, place, new_starts_at.date(), row.kind, ignore=row.id))
            if new_starts_at not in free:
                return self._slot_taken(
                    db, place, row.kind, new_starts_at, ignore=row.id, just_taken=just_taken
                )
            row.starts_at, row.doctor, row.status = new_starts_at, free[new_starts_at], "moved"
            return ActionResult(ok=True, facts=appointment_facts(appointment_info(row, place.name)))

    def cancel_appointment(
        self, appointment_id: int, *, customer_id: int | None = None
    ) -> ActionResult:
        with Session(self.engine) as db, db.begin():
            row = db.get(Appointment, appointment_id)
            if (
                row is not None
                and row.status == "cancelled"
                and customer_id in (None, row.customer_id)
            ):
                return ActionResult(
                    ok=True,
                    already_done=True,
                    reason="already_cancelled",
                    facts=appointment_facts(_info(db, row)),
                )
            refusal = self._change_refusal(row, customer_id)
            if refusal is not None:
                return refusal
            assert row is not None
            row.status = "cancelled"
            return ActionResult(ok=True, facts=appointment_facts(_info(db, row)))

    # rules

    def _change_refusal(
        self, row: Appointment | None, customer_id: int | None
    ) -> ActionResult | None:
        if row is None or customer_id not in (None, row.customer_id) or row.status == "cancelled":
            return refused("unknown_appointment")
        if row.starts_at - self._now() < CHANGE_NOTICE:
            return refused(
                "too_late", appointment_id=row.id, kind=row.kind, starts_at=row.starts_at
            )
        return None

    def _slot_taken(
        self,
        db: Session,
        place: Clinic,
        kind: str,
        wanted: datetime,
        ignore: int | None = None,
        just_taken: bool = False,
    ) -> ActionResult:
        """The refusal for a time that isn't free: `alternatives` are the nearest free starts
        that day, earliest first; `just_taken` when another call took it after the check."""
        options = [start for start, _ in self._free(db, place, wanted.date(), kind, ignore)]
        closest = sorted(options, key=lambda s: abs(s - wanted))[:ALTERNATIVES_OFFERED]
        return refused(
            "slot_unavailable",
            kind=kind,
            clinic=place.name,
            starts_at=wanted,
            just_taken=just_taken,
            alternatives=sorted(closest),
        )

    def _free(
        self,
        db: Session,
        place: Clinic,
        day: date,
        kind: str,
        ignore: int | None = None,
        *,
        doctor: str | None = None,
    ) -> list[tuple[datetime, str]]:
        """(start, doctor) for every bookable start on `day`, earliest first; none on the
        public holidays the clinics close for, and none after 2 PM on the early-closing days."""
        hours = (place.hours or {}).get(day.strftime("%A").lower())
        if not hours or kind not in place.kinds or _holiday(day):
            return []
        opens, closes = (datetime.combine(day, time.fromisoformat(h)) for h in hours)
        if (day.month, day.day) in EARLY_CLOSING:
            closes = min(closes, datetime.combine(day, EARLY_CLOSING_TIME))
        length = timedelta(minutes=int(place.kinds[kind]))
        doctors = [
            d["name"]
            for d in place.doctors
            if kind in d.get("kinds", []) and doctor in (None, d["name"])
        ]
        busy = _busy(db, place.id, day, ignore)
        now, start, slots = self._now(), opens, []
        while start + length <= closes:
            free = next(
                (
                    d
                    for d in doctors
                    if not any(b[0] == d and b[1] < start + length and start < b[2] for b in busy)
                ),
                None,
            )
            if free and start > now:
                slots.append((start, free))
            start += timedelta(minutes=place.slot_minutes)
        return slots


def holiday_name(day: date) -> str | None:
    """The public holiday the business closes for on `day`, or None."""
    return _holiday(day)


def _holiday(day: date) -> str | None:
    """The name of a public holiday the clinics close for, or None."""
    import holidays

    name = holidays.US(years=day.year).get(day)  # type: ignore[no-untyped-call]  # no hints
    return next((h for h in CLOSED_HOLIDAYS if name and name.startswith(h)), None)


def _info(db: Session, row: Appointment) -> AppointmentInfo:
    clinic = db.get(Clinic, row.clinic_id)
    return appointment_info(row, clinic.name if clinic else "")


def _lock_clinic(db: Session, clinic_id: int) -> None:
    """Check and book one at a time per clinic until this transaction ends: a no-op write takes
    the row lock on Postgres and the write lock on SQLite (where SELECT ... FOR UPDATE does
    nothing). The unique slot index only catches two bookings with the same start; this also
    keeps a long appointment from overlapping one booked a moment earlier at another start."""
    db.execute(
        update(Clinic).where(Clinic.id == clinic_id).values(slot_minutes=Clinic.slot_minutes)
    )


def _busy(
    db: Session, clinic_id: int, day: date, ignore: int | None
) -> list[tuple[str, datetime, datetime]]:
    """(doctor, start, end) of the active appointments at a clinic on one day."""
    first = datetime.combine(day, time.min)
    rows = db.scalars(
        select(Appointment).where(
            Appointment.clinic_id == clinic_id,
            Appointment.starts_at >= first,
            Appointment.starts_at < first + timedelta(days=1),
            Appointment.status.in_(ACTIVE_APPOINTMENT_STATUSES),
        )
    )
    return [
        (r.doctor, r.starts_at, r.starts_at + timedelta(minutes=r.minutes))
        for r in rows
        if r.id != ignore
    ]


def _clinic_for(db: Session, kind: str, name: str | None) -> tuple[Clinic, str] | None:
    """The first clinic (optionally matching `name`) that offers `kind`, and the kind's
    canonical spelling there. An exact name wins; otherwise callers leave out the qualifier
    ('a cleaning' for 'dental cleaning'), so a kind that ends with what they said matches."""
    said = kind_key(kind)
    places = [
        p
        for p in db.scalars(select(Clinic).order_by(Clinic.id))
        if not name or kind_key(name) in kind_key(p.name)
    ]

    def exact(k: str) -> bool:
        return kind_key(k) == said

    def ending(k: str) -> bool:
        return kind_key(k).endswith(said)

    for matches in (exact, ending):
        for place in places:
            canonical = next((k for k in place.kinds if said and matches(k)), None)
            if canonical:
                return place, canonical
    return None
