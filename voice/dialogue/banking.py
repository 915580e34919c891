"""The bank's tasks: balances, blocking a card, a card's status, and honest limits.

Banking needs the account holder: the caller's number must belong to a customer. Blocking is
the one change made here; it is offered only when the caller asked for it (never for "unfreeze"
or "my card keeps being declined"), names the card, and runs on a yes to that question.
"""

from __future__ import annotations

from collections.abc import Callable

from voice.business.records import AccountInfo, CardInfo
from voice.dialogue.plan import TaskContext, TurnPlan
from voice.dialogue.saying import say_cents, say_list
from voice.dialogue.state import Question

UNKNOWN_CALLER = (
    "I can't find a bank account for the number you're calling from, so I can't help with "
    "that here."
)
_LIMITS = {
    "card_replace": "I'm sorry, I can't order a replacement card on this line.",
    "transfer_money": "For your security, I can't move money over the phone.",
    "transaction_dispute": "I'm sorry, I can't look into a payment or dispute a charge on this "
    "line. If your card is lost or stolen, I can block it for you.",
    "transaction_history": "I'm sorry, I can't read out transactions or statements on this line.",
    "pin_help": "For your security, I can't help with PINs or passwords on this line.",
    "bank_product": "I'm sorry, I can't open or close accounts or arrange loans on this line.",
}


def _cards(t: TaskContext) -> list[CardInfo]:
    return t.business.cards_for(t.customer_id) if t.customer_id else []


def _card_phrase(card: CardInfo) -> str:
    return (
        f"your {card.account_kind} card ending {card.last4}"
        if card.account_kind
        else f"your card ending {card.last4}"
    )


def account_balance(t: TaskContext) -> TurnPlan:
    if not t.customer_id:
        return t.offer_person("account_balance", UNKNOWN_CALLER)
    kind = t.reading.values.get("account_kind") or t.slots.get("account_kind")
    result = t.business.account_balance(t.customer_id, kind)
    if not result.ok:
        what = f"a {kind} account" if kind else "an account"
        return t.cannot("account_balance", f"I can't find {what} in your name.")
    accounts: list[AccountInfo] = result.facts["accounts"]
    balances = {
        f"{a.kind} account ending {a.ending}": say_cents(a.balance_cents, a.currency)
        for a in accounts
    }
    parts = [f"your {name} has {amount}" for name, amount in balances.items()]
    return t.answered(
        "account_balance", _sentence(say_list(parts)), "gave the account balance", **balances
    )


def card_status(t: TaskContext) -> TurnPlan:
    if not t.customer_id:
        return t.offer_person("card_status", UNKNOWN_CALLER)
    cards = _cards(t)
    if not cards:
        return t.cannot("card_status", "I can't find a card on your accounts.")
    named = t.reading.values.get("card_last4")
    shown = [c for c in cards if c.last4 == named] or cards
    parts = [f"{_card_phrase(c)} is {c.status}" for c in shown]
    return t.answered(
        "card_status",
        _sentence(say_list(parts)),
        "gave the card status",
        **{f"card {c.last4}": c.status for c in shown},
    )


def card_block(t: TaskContext) -> TurnPlan:
    if not t.customer_id:
        return t.offer_person("card_block", UNKNOWN_CALLER)
    cards = _cards(t)
    active = [c for c in cards if c.status == "active"]
    excluded = t.slots.pop("not_card_last4", None)
    named = t.reading.values.get("card_last4") or t.slots.get("card_last4")
    if named and named == excluded:
        named = None
    if not cards:
        return t.cannot("card_block", "I can't find a card on your accounts.")
    if named:
        card = next((c for c in cards if c.last4 == named), None)
        if card is None:
            t.slots.pop("card_last4", None)
            endings = say_list([c.last4 for c in active])
            if not active:
                return t.cannot("card_block", f"I can't find a card ending {named}.")
            return t.choose(
                "card_block",
                "card_last4",
                active,
                f"I can't find a card ending {named}. Your active cards end in "
                f"{endings}. Which one is it?",
            )
        if card.status == "blocked":
            t.slots["card_last4"] = card.last4
            return t.answered(
                "card_block",
                _sentence(
                    f"{_card_phrase(card)} is already blocked, so no payments can be made with it"
                ),
                card=card.last4,
                card_status="blocked",
            )
        return _confirm_block(t, card)
    choices = [c for c in active if c.last4 != excluded]
    others = [c for c in cards if c.last4 != excluded]
    if excluded and len(others) == 1 and others[0].status == "blocked":
        # "No, the other one": the other card, which is already blocked
        return t.answered(
            "card_block",
            _sentence(
                f"{_card_phrase(others[0])} is already blocked, so no payments can be made with it"
            ),
            card=others[0].last4,
            card_status="blocked",
        )
    if len(choices) == 1:
        return _confirm_block(t, choices[0])
    if not choices:
        blocked = say_list([c.last4 for c in cards])
        return t.answered("card_block", f"All your cards are already blocked (ending {blocked}).")
    return t.choose(
        "card_block",
        "card_last4",
        choices,
        f"You have {len(choices)} active cards, ending "
        f"{say_list([c.last4 for c in choices])}. Which one should I block?",
    )


def _confirm_block(t: TaskContext, card: CardInfo) -> TurnPlan:
    t.slots["card_last4"] = card.last4
    return t.confirm(
        "card_block",
        "block_card",
        {"customer_id": t.customer_id, "card_last4": card.last4},
        f"Shall I block {_card_phrase(card)} now? It can't be used again once it's blocked.",
        card=card.last4,
    )


def run_block(t: TaskContext, question: Question) -> TurnPlan:
    """The caller said yes to "Shall I block your card ending N?"."""
    last4 = str(question.args["card_last4"])
    result = t.business.block_card(int(question.args["customer_id"]), last4)
    if not result.ok:
        return t.could_not("card_block", f"I couldn't block the card ending {last4}.")
    if result.already_done:
        return t.answered("card_block", f"Your card ending {last4} was already blocked.")
    low, high = result.facts["replacement_business_days"]
    replacement = f"within {low} to {high} business days"
    plan = t.answered(
        "card_block",
        f"Done: I've blocked your card ending {last4}; it can't be used from now on. A "
        f"replacement card is on its way and arrives {replacement}.",
        f"blocked card {last4}",
        card=result.facts["card"],
        card_status=result.facts["card_status"],
        replacement=replacement,
    )
    plan.does = "block_card"
    return plan


def card_unblock(t: TaskContext) -> TurnPlan:
    """Can't be done here; says where the caller's cards stand, never offers to block."""
    status = ""
    if t.customer_id:
        blocked = [c for c in _cards(t) if c.status == "blocked"]
        named = t.reading.values.get("card_last4")
        shown = [c for c in blocked if c.last4 == named] or blocked
        if shown:
            status = " " + _sentence(say_list([f"{_card_phrase(c)} is blocked" for c in shown]))
    return t.offer_person(
        "card_unblock", f"I'm sorry, I can't unblock or reactivate a card on this line.{status}"
    )


def _limit(intent: str) -> Callable[[TaskContext], TurnPlan]:
    def task(t: TaskContext) -> TurnPlan:
        if intent == "bank_product":
            answer = _documented(t)
            if answer is not None:
                return answer
        return t.offer_person(intent, _LIMITS[intent])

    return task


def _documented(t: TaskContext) -> TurnPlan | None:
    """A banking question the policy documents answer (interest, fees)."""
    from voice.dialogue.policies import knowledge_plan

    return knowledge_plan(t, "bank_product", t.reading.text, required=False)


TASKS = {
    "account_balance": account_balance,
    "card_status": card_status,
    "card_block": card_block,
    "card_unblock": card_unblock,
    **{intent: _limit(intent) for intent in _LIMITS},
}


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."
