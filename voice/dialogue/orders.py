"""The shop's tasks: where an order is, its tracking and contents, returns, and honest limits.

Which order the caller means: the number they said, else an item they named matched against
their own orders ("the lamp"), else the order the call is already about, else the only order
that fits the question (the one on its way, the one that can be returned), else they are asked,
with the choices read out. A caller we can't tie to an account hears an order's status and
delivery date only, and only for a number they give.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from voice.business.orders import OPEN_ORDER_STATUSES, REFUND_BUSINESS_DAYS, RETURN_WINDOW_DAYS
from voice.business.records import ActionResult, OrderInfo
from voice.dialogue.plan import TaskContext, TurnPlan
from voice.dialogue.saying import say_cents, say_date, say_facts, say_list
from voice.dialogue.state import Question

EXCHANGE = re.compile(
    r"\b(swap|exchange|replace it|replacement|different size|right size|"
    r"smaller|bigger|larger|other colou?r|instead)\b",
    re.IGNORECASE,
)
ACCOUNT_HOLDER_ONLY = (
    "For anything more about it, please call us from the phone number on the account."
)
_LIMITS = {
    "order_cancel": "I'm sorry, I can't cancel an order on this line.",
    "order_change": "I'm sorry, I can't change an order's address, items or delivery on this line.",
    "order_missing": "I'm sorry it hasn't reached you. I can't open a claim for a missing parcel "
    "or item on this line.",
    "shop_product": "I'm afraid I can't take new orders or check prices and stock on this line.",
}


def items_said(order: OrderInfo) -> str:
    """'the Trail Running Shoes', '2 Stainless Steel Water Bottles and an Insulated Lunch Bag'."""
    parts = []
    for item in order.items:
        qty = int(item.get("qty", 1))
        parts.append(item["name"] if qty == 1 else f"{qty} x {item['name']}")
    return say_list(parts) if len(parts) > 1 else f"the {parts[0]}" if parts else "your items"


def status_sentence(order: OrderInfo, *, full: bool = True) -> str:
    """One order's status as a person says it; `full` adds what was ordered and the carrier."""
    what = f"Your order {order.number}, {items_said(order)}," if full else f"Order {order.number}"
    if order.status == "processing":
        due = f" and should arrive {say_date(order.eta)}" if order.eta else ""
        return f"{what} is being prepared{due}."
    if order.status == "shipped":
        carrier = f" with {order.carrier}" if full and order.carrier else ""
        sent = f" on {say_date(order.shipped_on)}" if full and order.shipped_on else ""
        due = f" and is due {say_date(order.eta)}" if order.eta else ""
        return f"{what} has shipped{carrier}{sent}{due}."
    if order.status == "delivered" and order.delivered_on:
        return f"{what} was delivered on {say_date(order.delivered_on)}."
    if order.status == "cancelled":
        return f"{what} was cancelled."
    return f"{what} is {order.status}."


def _facts(order: OrderInfo, full: bool) -> dict[str, str]:
    facts = {"order_number": order.number, "status": order.status}
    if order.eta and order.status in OPEN_ORDER_STATUSES:
        facts["eta"] = say_date(order.eta)
    if order.delivered_on:
        facts["delivered_on"] = say_date(order.delivered_on)
    if full:
        facts["items"] = items_said(order)
        facts["total"] = say_cents(order.total_cents)
        facts["ordered_on"] = say_date(order.ordered_on)
        if order.carrier:
            facts["carrier"] = order.carrier
        if order.tracking:
            facts["tracking"] = order.tracking
        if order.shipped_on:
            facts["shipped_on"] = say_date(order.shipped_on)
    return facts


# --- which order ---------------------------------------------------------------------------


def _own_orders(t: TaskContext) -> list[OrderInfo]:
    return t.business.orders_for(t.customer_id) if t.customer_id else []


def _said_order(t: TaskContext) -> str | None:
    values = t.reading.values
    return values.get("order_number") or values.get("item_order")


def resolve_order(
    t: TaskContext, task: str, fits: Callable[[OrderInfo], bool], *, any_order: bool = True
) -> tuple[OrderInfo | None, TurnPlan | None]:
    """The order the caller means, or the plan that asks which (or says it can't be found)."""
    slots, own = t.slots, _own_orders(t)
    excluded = slots.pop("not_order_number", None)
    number = _said_order(t) or slots.get("order_number")
    if excluded and number == excluded:
        number = None
    if number:
        order = _find(t, str(number), own)
        if order is None:
            slots.pop("order_number", None)
            where = " on your account" if t.customer_id else ""
            return None, t.ask(
                task,
                "order_number",
                f"I couldn't find order {number}{where}. Could you read me the "
                "number again, or type it on your keypad?",
            )
        slots["order_number"] = order.number
        return order, None
    if not t.customer_id:
        return None, t.ask(task, "order_number", "What's the order number?")
    candidates = [o for o in own if fits(o) and o.number != excluded]
    if not candidates and any_order:  # none fits: the caller may still mean one of these
        candidates = [o for o in own if o.number != excluded and o.status != "cancelled"]
    if excluded and len(candidates) >= 1 and len([o for o in own if fits(o)]) == 2:
        candidates = [o for o in own if fits(o) and o.number != excluded]
    if len(candidates) == 1:
        slots["order_number"] = candidates[0].number
        return candidates[0], None
    if not candidates:
        return None, t.ask(
            task, "order_number", "I can't see an order on your account. What's the order number?"
        )
    listed = [f"{o.number}, {items_said(o)}" for o in candidates[:3]]
    return None, t.choose(
        task, "order_number", candidates[:3], f"Which order is it: {say_list(listed, 'or')}?"
    )


def _find(t: TaskContext, number: str, own: list[OrderInfo]) -> OrderInfo | None:
    """A known caller's own order (or the one own order a digit away: speech recognition
    drops and swaps digits); a caller we can't identify gets an exact match only."""
    if not t.customer_id:
        return t.business.order(number)
    exact = next((o for o in own if o.number == number), None)
    if exact:
        return exact
    near = [o for o in own if _one_digit_apart(o.number, number)]
    return near[0] if len(near) == 1 else None


def _one_digit_apart(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1 or a == b or len(b) < 3:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long = sorted((a, b), key=len)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def _is_open(order: OrderInfo) -> bool:
    return order.status in OPEN_ORDER_STATUSES


def _owned(t: TaskContext, order: OrderInfo) -> bool:
    return t.customer_id is not None and order.customer_id == t.customer_id


# --- tasks -----------------------------------------------------------------------------------


def order_status(t: TaskContext) -> TurnPlan:
    order, plan = resolve_order(t, "order_status", _is_open)
    if order is None:
        return plan  # type: ignore[return-value]
    if not _owned(t, order):
        return t.answered(
            "order_status",
            f"{status_sentence(order, full=False)} {ACCOUNT_HOLDER_ONLY}",
            f"checked order {order.number} ({order.status})",
            **_facts(order, False),
        )
    return t.answered(
        "order_status",
        status_sentence(order),
        f"checked order {order.number} ({order.status})",
        **_facts(order, True),
    )


def order_tracking(t: TaskContext) -> TurnPlan:
    order, plan = resolve_order(t, "order_tracking", _is_open)
    if order is None:
        return plan  # type: ignore[return-value]
    if not _owned(t, order):
        return t.answered(
            "order_tracking",
            f"{status_sentence(order, full=False)} {ACCOUNT_HOLDER_ONLY}",
            **_facts(order, False),
        )
    if order.tracking:
        say = f"Order {order.number} is with {order.carrier}, tracking number {order.tracking}."
        if order.status == "delivered" and order.delivered_on:
            say += f" It was delivered on {say_date(order.delivered_on)}."
        elif order.eta and order.status in OPEN_ORDER_STATUSES:
            say += f" It's due {say_date(order.eta)}."
    else:
        say = (
            f"Order {order.number} hasn't shipped yet, so it has no tracking number yet. "
            + status_sentence(order, full=False)
        )
    return t.answered(
        "order_tracking", say, f"gave tracking for order {order.number}", **_facts(order, True)
    )


def order_details(t: TaskContext) -> TurnPlan:
    order, plan = resolve_order(t, "order_details", lambda o: True)
    if order is None:
        return plan  # type: ignore[return-value]
    if not _owned(t, order):
        return t.answered(
            "order_details",
            f"{status_sentence(order, full=False)} {ACCOUNT_HOLDER_ONLY}",
            **_facts(order, False),
        )
    say = (
        f"Order {order.number} was placed on {say_date(order.ordered_on)}: "
        f"{items_said(order)}, {say_cents(order.total_cents)} in total. "
        f"{status_sentence(order, full=False).replace(f'Order {order.number}', 'It')}"
    )
    return t.answered("order_details", say, f"read order {order.number}", **_facts(order, True))


def return_status(t: TaskContext) -> TurnPlan:
    order, plan = resolve_order(t, "return_status", lambda o: bool(o.return_status))
    if order is None:
        return plan  # type: ignore[return-value]
    if not _owned(t, order):
        return t.offer_person(
            "return_status", "I can only discuss returns with the account holder."
        )
    found = t.business.return_check(order.number, customer_id=t.customer_id)
    if not order.return_status or found is None or found.reason != "return_exists":
        return t.answered(
            "return_status",
            f"I can't see a return for order {order.number}. " + status_sentence(order, full=False),
        )
    facts = say_facts(found.facts)
    status = order.return_status
    says = {
        "started": "has been started; once the item is back with us, the refund goes to your "
        f"original payment method within {REFUND_BUSINESS_DAYS} business days",
        "received": "has arrived back with us and the refund is on its way",
        "refunded": "has been refunded",
    }.get(status, f"is {status}")
    refund = facts.get("refund", "")
    amount = (
        f" The refund is {refund}."
        if refund and status != "refunded"
        else f" The refund was {refund}."
        if refund
        else ""
    )
    return t.answered(
        "return_status",
        f"The return for order {order.number} {says}.{amount}",
        f"gave the return status of order {order.number}",
        **facts,
    )


def return_request(t: TaskContext) -> TurnPlan:
    if not t.customer_id:
        return t.offer_person(
            "return_request",
            "I can't find an account for the number you're "
            "calling from, so I can't start a return here.",
        )
    order, plan = resolve_order(t, "return_request", _returnable(t), any_order=False)
    if order is None:
        return plan  # type: ignore[return-value]
    refusal = t.business.return_check(order.number, customer_id=t.customer_id)
    if refusal is not None:  # say why now, rather than ask to confirm what can't happen
        return t.cannot("return_request", refusal_sentence(order, refusal), **_said(refusal))
    reason = str(t.reading.values.get("reason") or "")
    # Exchanges are not done here: say so, and offer the return (a new order is the swap).
    swap = (
        "I can't swap an item for another size or colour here, but I can start a return, "
        "and you can place a new order for the one you want. "
        if EXCHANGE.search(t.reading.text)
        else ""
    )
    return t.confirm(
        "return_request",
        "start_return",
        {"order_number": order.number, "reason": reason},
        f"{swap}Shall I start a return for order {order.number}, {items_said(order)}?",
        order_number=order.number,
        items=items_said(order),
    )


def _returnable(t: TaskContext) -> Callable[[OrderInfo], bool]:
    def fits(order: OrderInfo) -> bool:
        return t.business.return_check(order.number, customer_id=t.customer_id) is None

    return fits


def _said(result: ActionResult) -> dict[str, str]:
    """A refusal's (or an existing return's) facts as a reply writes them, with the reason
    code of a refusal."""
    reason = {} if result.ok else {"reason": result.reason}
    return reason | say_facts(result.facts)


def refusal_sentence(order: OrderInfo, result: ActionResult) -> str:
    """Why a return can't be started, from the business's reason code."""
    reason, number, facts = result.reason, order.number, result.facts
    if reason == "cancelled":
        return (
            f"Order {number} was cancelled, so there's nothing to return; its payment was "
            "refunded when it was cancelled."
        )
    if reason == "not_delivered":
        due = f" It's due {say_date(order.eta)}." if order.eta else ""
        return (
            f"Order {number} hasn't been delivered yet, so a return can only be started "
            f"once it arrives.{due}"
        )
    if reason == "outside_window" and order.delivered_on is not None:
        return (
            f"Order {number} was delivered on {say_date(order.delivered_on)}, more than "
            f"{RETURN_WINDOW_DAYS} days ago, so it's outside our {RETURN_WINDOW_DAYS}-day "
            "return window."
        )
    if reason == "not_returnable":
        what = say_list(facts.get("items") or []) or items_said(order)
        return (
            f"I'm sorry, {what} can't be returned: for health and hygiene reasons we can't "
            "take those back."
        )
    if reason == "return_exists":
        said = say_facts(facts)
        started = said.get("return_started_on", "")
        when = f" on {started}" if started else ""
        refund = f" and the refund is {said['refund']}" if said.get("refund") else ""
        return (
            f"A return for order {number} was already started{when}; its status is "
            f"{said['return_status']}{refund}."
        )
    return f"I can't start a return for order {number}."


def run_return(t: TaskContext, question: Question) -> TurnPlan:
    """The caller said yes to "Shall I start a return for order N?"."""
    number = str(question.args["order_number"])
    result = t.business.start_return(
        number, str(question.args.get("reason", "")), customer_id=t.customer_id
    )
    if not result.ok or result.already_done:
        order = t.business.order(number)
        if order is None:
            return t.could_not("return_request", "I couldn't start that return.")
        return t.cannot("return_request", refusal_sentence(order, result))
    facts = result.facts
    refund = say_cents(facts["refund_cents"], facts["currency"])
    days = facts["refund_business_days"]
    plan = t.answered(
        "return_request",
        f"Done: I've started a return for order {number}. We'll email you a prepaid return "
        f"label, and once the item is back the refund of {refund} goes to your original "
        f"payment method within {days} business days.",
        f"started a return for order {number}",
        order_number=facts["order_number"],
        return_status=facts["return_status"],
        refund=refund,
        refund_timing=f"within {days} business days of the item arriving back",
        label=f"a prepaid return label by {facts['label_sent_by']}",
    )
    plan.does = "start_return"
    return plan


def _limit(intent: str) -> Callable[[TaskContext], TurnPlan]:
    def task(t: TaskContext) -> TurnPlan:
        return t.offer_person(intent, _LIMITS[intent])

    return task


TASKS = {
    "order_status": order_status,
    "order_tracking": order_tracking,
    "order_details": order_details,
    "return_status": return_status,
    "return_request": return_request,
    **{intent: _limit(intent) for intent in _LIMITS},
}
