"""The clinics' tasks: when an appointment is, booking, moving and cancelling, honest limits.

Which appointment the caller means: the one they named by kind or day, the one the call is
already about, the only upcoming one, or they are asked with the choices read out. The
clinics' rules (opening hours, 24 hours' notice for a change, one booking per slot) are checked
before the caller is asked to confirm, so a yes is never followed by "sorry, I can't".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from voice.business.records import ActionResult, AppointmentInfo
from voice.dialogue.plan import TaskContext, TurnPlan
from voice.dialogue.saying import say_date, say_list, say_time, say_when
from voice.dialogue.state import Question
from voice.store.schema import ACTIVE_APPOINTMENT_STATUSES

UNKNOWN_CALLER = (
    "I can't find a patient record for the number you're calling from, so I can't do that here."
)
_LIMITS = {
    "prescription": "I'm sorry, I can't handle prescriptions on this line.",
    "test_results": "I'm sorry, I can't give out test results on this line.",
    "medical_advice": "I'm sorry, I can't give medical advice. If it's an emergency, please "
    "hang up and call 911.",
}
SLOTS_OFFERED = 3
# "Just book me a new one then": the kind of the appointment the call was about.
SAME_KIND = re.compile(r"\b(a new one|another( one)?|the same (kind|type|thing))\b", re.IGNORECASE)
PAST_QUESTION = re.compile(r"\b(last|previous|did i (have|go|see|attend))\b", re.IGNORECASE)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def describe(a: AppointmentInfo, *, doctor: bool = True) -> str:
    """'your dental cleaning on Wednesday, December 9 at 9:30 AM with Dr. Marcus Bell'."""
    who = f" with {a.doctor}" if doctor and a.doctor else ""
    return f"your {a.kind} on {say_when(a.starts_at)}{who}"


def _is(a: AppointmentInfo) -> str:
    """'your dental cleaning is on Wednesday, December 9 at 9:30 AM with Dr. Marcus Bell'."""
    return f"your {a.kind} is on {say_when(a.starts_at)} with {a.doctor}"


def _facts(a: AppointmentInfo) -> dict[str, str]:
    return {
        "kind": a.kind,
        "date": say_date(a.starts_at.date()),
        "time": say_time(a.starts_at),
        "doctor": a.doctor,
        "clinic": a.clinic,
        "status": a.status,
    }


def _upcoming(t: TaskContext) -> list[AppointmentInfo]:
    found = t.business.appointments_for(t.customer_id) if t.customer_id else []
    return [a for a in found if a.status in ACTIVE_APPOINTMENT_STATUSES]


def _past(t: TaskContext) -> list[AppointmentInfo]:
    if not t.customer_id:
        return []
    found = t.business.appointments_for(t.customer_id, include_past=True)
    return [a for a in found if a.status in ACTIVE_APPOINTMENT_STATUSES and a.starts_at < t.now()]


def resolve(
    t: TaskContext, task: str, *, day_names_it: bool
) -> tuple[AppointmentInfo | None, TurnPlan | None]:
    """The upcoming appointment meant, or the plan that asks which / says there is none.

    `day_names_it`: a day in the turn names the appointment (cancel, "when is my Monday one")
    rather than where to move it to.
    """
    if not t.customer_id:
        return None, t.offer_person(task, UNKNOWN_CALLER)
    active = _upcoming(t)
    values, slots = t.reading.values, t.slots
    excluded = slots.pop("not_appointment_id", None)
    chosen_id = slots.get("appointment_id")
    candidates = [a for a in active if a.id != excluded]
    said_day = values.get("date")
    gone_by = values.get("date_was") or (said_day if said_day and said_day < t.today else None)
    if gone_by is not None:
        past = [a for a in _past(t) if a.starts_at.date() == gone_by]
        if past:
            slots["appointment_id"] = past[0].id  # "book me a new one" means one of this kind
            return None, t.cannot(
                task,
                f"Your {past[0].kind} on {say_when(past[0].starts_at)} "
                "has already passed, so it can't be changed now. I can "
                "book you a new one if you like.",
            )
    kind, day = values.get("appointment_kind"), said_day if day_names_it else None
    if kind or day:
        named = [
            a
            for a in candidates
            if (not kind or a.kind == kind) and (not day or a.starts_at.date() == day)
        ]
        if named:
            candidates = named
    elif chosen_id and any(a.id == chosen_id for a in candidates):
        candidates = [a for a in candidates if a.id == chosen_id]
    if not candidates:
        return None, t.cannot(task, "I can't find an upcoming appointment in your name.")
    if len(candidates) == 1:
        slots["appointment_id"] = candidates[0].id
        return candidates[0], None
    listed = [f"{_article(a.kind)} {a.kind} on {say_when(a.starts_at)}" for a in candidates[:3]]
    verb = {"appointment_cancel": "cancel", "appointment_move": "move"}.get(task, "ask about")
    return None, t.choose(
        task,
        "appointment_id",
        candidates[:3],
        f"You have {len(candidates)} appointments: {say_list(listed)}. Which "
        f"one would you like to {verb}?",
    )


# --- tasks -----------------------------------------------------------------------------------


def appointment_info(t: TaskContext) -> TurnPlan:
    if not t.customer_id:
        return t.offer_person("appointment_info", UNKNOWN_CALLER)
    active = _upcoming(t)
    values = t.reading.values
    kind, day = values.get("appointment_kind"), values.get("date")
    if PAST_QUESTION.search(t.reading.text) or (day is not None and day < t.today):
        past = [
            a
            for a in _past(t)
            if (not kind or a.kind == kind)
            and (day is None or day >= t.today or a.starts_at.date() == day)
        ]
        if past:
            last = past[-1]
            return t.answered(
                "appointment_info",
                f"Your last {last.kind} was on "
                f"{say_when(last.starts_at)} with {last.doctor} "
                f"at {last.clinic}.",
                **_facts(last),
            )
    shown = [
        a for a in active if (not kind or a.kind == kind) and (not day or a.starts_at.date() == day)
    ]
    if not shown and kind and active:
        others = say_list(
            [f"{_article(a.kind)} {a.kind} on {say_when(a.starts_at)}" for a in active[:3]]
        )
        return t.answered(
            "appointment_info",
            f"I can't see an upcoming {kind} in your name. You have {others}.",
            **_facts(active[0]),
        )
    shown = shown or active
    cancelled = (
        [
            a
            for a in t.business.appointments_for(t.customer_id)
            if a.status == "cancelled"
            and day
            and a.starts_at.date() == day
            and (not kind or a.kind == kind)
        ]
        if day
        else []
    )
    if cancelled:
        gone = cancelled[0]
        rest = [
            f"{_article(a.kind)} {a.kind} on {say_when(a.starts_at)} with {a.doctor} at {a.clinic}"
            for a in active[:2]
        ]
        still = f" You still have {say_list(rest)}." if rest else ""
        return t.answered(
            "appointment_info",
            f"Your {gone.kind} on {say_when(gone.starts_at)} was cancelled.{still}",
            "read the appointments",
            **(_facts(active[0]) if active else {}),
        )
    if not shown:
        past = _past(t)
        if past:
            last = past[-1]
            return t.answered(
                "appointment_info",
                f"I can't see an upcoming appointment in your name. Your last one "
                f"was {describe(last)} at {last.clinic}.",
                **_facts(last),
            )
        return t.answered("appointment_info", "I can't see an appointment in your name.")
    if len(shown) == 1:
        t.slots["appointment_id"] = shown[0].id
    parts = [f"{_is(a)} at {a.clinic}" for a in shown[:3]]
    say = say_list(parts)
    return t.answered(
        "appointment_info",
        say[:1].upper() + say[1:] + ".",
        "read the upcoming appointments",
        **_facts(shown[0]),
    )


def appointment_book(t: TaskContext) -> TurnPlan:
    if not t.customer_id:
        return t.offer_person("appointment_book", UNKNOWN_CALLER)
    said = t.reading.values.get("appointment_kind") or t.slots.get("appointment_kind")
    if not said and SAME_KIND.search(t.reading.text) and t.slots.get("appointment_id"):
        focus = t.business.appointment(int(t.slots["appointment_id"]))
        said = focus.kind if focus else None
    if not said:
        kinds = say_list([f"{_article(k)} {k}" for k in t.business.appointment_kinds()], "or")
        return t.ask(
            "appointment_book",
            "appointment_kind",
            f"Of course. What kind of appointment is it: {kinds}?",
        )
    kind = t.business.appointment_kind(str(said))
    if kind is None:
        offered = say_list(t.business.appointment_kinds(), "or")
        return t.cannot(
            "appointment_book",
            f"I'm sorry, we don't offer {said} appointments. I can book {offered}.",
        )
    t.slots["appointment_kind"] = kind
    return _schedule(t, "appointment_book", kind, None)


def appointment_move(t: TaskContext) -> TurnPlan:
    appointment, plan = resolve(t, "appointment_move", day_names_it=False)
    if appointment is None:
        return plan  # type: ignore[return-value]
    refusal = t.business.change_check(appointment.id, customer_id=t.customer_id)
    if refusal is not None:
        return t.offer_person("appointment_move", _change_refusal(appointment, refusal))
    return _schedule(t, "appointment_move", appointment.kind, appointment)


def appointment_cancel(t: TaskContext) -> TurnPlan:
    appointment, plan = resolve(t, "appointment_cancel", day_names_it=True)
    if appointment is None:
        return plan  # type: ignore[return-value]
    refusal = t.business.change_check(appointment.id, customer_id=t.customer_id)
    if refusal is not None:
        return t.offer_person("appointment_cancel", _change_refusal(appointment, refusal))
    return t.confirm(
        "appointment_cancel",
        "cancel_appointment",
        {"appointment_id": appointment.id, "customer_id": t.customer_id},
        f"Shall I cancel {describe(appointment, doctor=False)}?",
        **_facts(appointment),
    )


def _change_refusal(a: AppointmentInfo, refusal: ActionResult) -> str:
    if refusal.reason == "too_late":
        said = describe(a, doctor=False)
        return (
            f"{said[:1].upper()}{said[1:]} is less than 24 hours away, so it "
            "can't be changed over the phone; the clinic's front desk can help."
        )
    return "I can't change that appointment."


def _relative_to(a: AppointmentInfo, text: str) -> dict[str, object]:
    """Days and times said relative to the appointment being moved: "same time", "the
    Saturday after", "a week later", "push it back a week"."""
    found: dict[str, object] = {}
    lower = text.lower()
    if re.search(r"\bsame time\b", lower):
        found["time"] = a.starts_at.time()
    if re.search(r"\bsame day\b", lower):
        found["date"] = a.starts_at.date()
    if re.search(
        r"\b(a|one) week (later|after)|\bback (by )?a week|\bweek after\b|"
        r"\bfollowing week\b",
        lower,
    ):
        found["date"] = a.starts_at.date() + timedelta(days=7)
    after = re.search(
        r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday) after\b", lower
    )
    if after:
        weekday = WEEKDAYS.index(after.group(1))
        ahead = (weekday - a.starts_at.weekday()) % 7 or 7
        found["date"] = a.starts_at.date() + timedelta(days=ahead)
    return found


def _schedule(t: TaskContext, task: str, kind: str, moving: AppointmentInfo | None) -> TurnPlan:
    """A day and a free time for `kind`, then the question that confirms booking or moving."""
    values, slots = dict(t.reading.values), t.slots
    if moving is not None:
        values.update(_relative_to(moving, t.reading.text))
    if "date" not in values and re.search(
        r"\b(today|tonight|this (morning|afternoon|evening))\b", t.reading.text, re.I
    ):
        values["date"] = t.today
    for key in ("date", "time", "part_of_day", "doctor"):
        if key in values:
            slots[key] = values[key]
    day: date | None = slots.get("date")
    if day is not None and day < t.today:
        slots.pop("date", None)
        return t.ask(task, "date", f"{say_date(day)} has already passed. Which day would suit you?")
    if day is None:
        when = (
            "Which day would suit you?"
            if task == "appointment_book"
            else f"Which day would you like to move {describe(moving, doctor=False)} to?"
            if moving
            else "Which day would suit you?"
        )
        return t.ask(task, "date", when)
    closed = t.business.closed_reason(kind, day)
    if closed:
        slots.pop("date", None)
        clinic = t.business.clinic_for_kind(kind)
        where = clinic.name if clinic else "The clinic"
        why = f"on {day:%A}s" if closed == "weekday" else f"for {closed}"
        return t.ask(
            task,
            "date",
            f"I'm sorry, {where} is closed {why}, so I can't book "
            f"{say_date(day)}. Would another day work?",
        )
    doctor = slots.get("doctor")
    starts = t.business.free_slots(day, kind, ignore=moving.id if moving else None, doctor=doctor)
    if not starts:
        slots.pop("date", None)
        who = f" with {doctor}" if doctor else ""
        return t.ask(
            task,
            "date",
            f"I'm sorry, there's nothing free{who} on {say_date(day)}. Would another day work?",
        )
    wanted: time | None = slots.get("time")
    chosen = next((s for s in starts if wanted and s.time() == wanted), None)
    if chosen is None:
        return _offer_times(t, task, day, starts, wanted)
    when = say_when(chosen)
    if moving is not None:
        return t.confirm(
            task,
            "move_appointment",
            {"appointment_id": moving.id, "customer_id": t.customer_id, "starts_at": chosen},
            f"Shall I move {describe(moving, doctor=False)} to {when}?",
            kind=kind,
            date=say_date(day),
            time=say_time(chosen),
        )
    return t.confirm(
        task,
        "book_appointment",
        {"customer_id": t.customer_id, "kind": kind, "starts_at": chosen, "doctor": doctor},
        f"Shall I book you {_article(kind)} {kind} on {when}?",
        kind=kind,
        date=say_date(day),
        time=say_time(chosen),
    )


def _offer_times(
    t: TaskContext, task: str, day: date, starts: list[datetime], wanted: time | None
) -> TurnPlan:
    part = t.slots.get("part_of_day")
    if wanted is not None:
        offer = sorted(
            sorted(starts, key=lambda s: abs(datetime.combine(day, wanted) - s))[:SLOTS_OFFERED]
        )
    else:
        within = [s for s in starts if _part(s) == part] if part else []
        offer = (within or starts)[:SLOTS_OFFERED]
    t.slots.pop("time", None)
    prefix = f"{say_time(wanted)} isn't free. " if wanted else ""
    times = say_list([say_time(s) for s in offer], "or")
    return t.choose(
        task, "time", offer, f"{prefix}On {say_date(day)} I have {times}. Which time works for you?"
    )


def _part(moment: datetime) -> str:
    return "morning" if moment.hour < 12 else "afternoon" if moment.hour < 17 else "evening"


# --- actions (after the caller's yes) --------------------------------------------------------


def run_book(t: TaskContext, question: Question) -> TurnPlan:
    a = question.args
    result = t.business.book_appointment(
        int(a["customer_id"]), a["starts_at"], str(a["kind"]), doctor=a.get("doctor")
    )
    return _after_change(t, "appointment_book", "book_appointment", result, question)


def run_move(t: TaskContext, question: Question) -> TurnPlan:
    a = question.args
    result = t.business.move_appointment(
        int(a["appointment_id"]), a["starts_at"], customer_id=int(a["customer_id"])
    )
    return _after_change(t, "appointment_move", "move_appointment", result, question)


def run_cancel(t: TaskContext, question: Question) -> TurnPlan:
    a = question.args
    result = t.business.cancel_appointment(
        int(a["appointment_id"]), customer_id=int(a["customer_id"])
    )
    return _after_change(t, "appointment_cancel", "cancel_appointment", result, question)


def _after_change(
    t: TaskContext, task: str, action: str, result: ActionResult, question: Question
) -> TurnPlan:
    facts = result.facts
    if not result.ok:
        if result.reason == "slot_unavailable":  # taken since it was offered: offer the others
            t.slots.pop("time", None)
            starts: datetime = question.args["starts_at"]
            kind = str(question.args.get("kind") or facts.get("kind") or "")
            free = t.business.free_slots(starts.date(), kind) if kind else []
            if free:
                return _offer_times(t, task, starts.date(), free, starts.time())
        return t.could_not(task, "I'm sorry, I couldn't make that change.")
    info = (
        t.business.appointment(int(facts["appointment_id"]))
        if facts.get("appointment_id")
        else None
    )
    if action == "cancel_appointment":
        say = (
            f"Done: I've cancelled {describe(info, doctor=False)}."
            if info
            else "Done: it's cancelled."
        )
        done = "cancelled an appointment"
    elif action == "move_appointment":
        say = (
            f"Done: I've moved your {info.kind} to {say_when(info.starts_at)} with {info.doctor}."
            if info
            else "Done: it's moved."
        )
        done = "moved an appointment"
    else:
        say = (
            f"Done: you're booked for {_article(info.kind)} {info.kind} with {info.doctor} "
            f"on {say_when(info.starts_at)} at {info.clinic}."
            if info
            else "Done: you're booked."
        )
        done = "booked an appointment"
    if info:
        t.slots["appointment_id"] = info.id
    plan = t.answered(task, say, done, **(_facts(info) if info else {}))
    plan.does = None if result.already_done else action
    return plan


def _limit(intent: str) -> Callable[[TaskContext], TurnPlan]:
    def task(t: TaskContext) -> TurnPlan:
        return t.offer_person(intent, _LIMITS[intent])

    return task


TASKS = {
    "appointment_info": appointment_info,
    "appointment_book": appointment_book,
    "appointment_move": appointment_move,
    "appointment_cancel": appointment_cancel,
    **{intent: _limit(intent) for intent in _LIMITS},
}
