"""The bank: account balances and cards.

Blocking is the one change; it needs the card to be clear (the one active card, or the ending
the caller gave) and is done once: asking again reports the block that exists.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from voice.business.line import Line, utcnow
from voice.business.records import ActionResult, CardInfo, account_info, refused
from voice.store.schema import Account, Card

REPLACEMENT_BUSINESS_DAYS = (5, 7)  # a blocked card's replacement arrives within these


class Banking(Line):
    def account_balance(self, customer_id: int, kind: str | None = None) -> ActionResult:
        """facts: `accounts`, the caller's accounts (of `kind`) as `AccountInfo`, in order."""
        query = select(Account).where(Account.customer_id == customer_id).order_by(Account.id)
        if kind:
            query = query.where(Account.kind == kind.strip().lower())
        with Session(self.engine) as db:
            accounts = [account_info(a) for a in db.scalars(query)]
        if not accounts:
            return refused("no_account", **({"kind": kind.strip().lower()} if kind else {}))
        return ActionResult(ok=True, facts={"accounts": accounts})

    def cards_for(self, customer_id: int) -> list[CardInfo]:
        query = (
            select(Card, Account.kind)
            .join(Account, Card.account_id == Account.id)
            .where(Account.customer_id == customer_id)
            .order_by(Card.id)
        )
        with Session(self.engine) as db:
            return [CardInfo(card.last4, card.status, kind) for card, kind in db.execute(query)]

    def block_card(self, customer_id: int, last4: str | None = None) -> ActionResult:
        with Session(self.engine) as db, db.begin():
            cards = list(
                db.scalars(
                    select(Card)
                    .join(Account, Card.account_id == Account.id)
                    .where(Account.customer_id == customer_id)
                    .order_by(Card.id)
                )
            )
            chosen = _choose_card(cards, last4)
            if isinstance(chosen, ActionResult):
                return chosen
            if chosen.status == "blocked":
                return ActionResult(
                    ok=True,
                    already_done=True,
                    reason="already_blocked",
                    facts={
                        "card": chosen.last4,
                        "card_status": "blocked",
                        "blocked_on": chosen.blocked_at.date() if chosen.blocked_at else None,
                    },
                )
            chosen.status, chosen.blocked_at = "blocked", utcnow()
            return ActionResult(
                ok=True,
                facts={
                    "card": chosen.last4,
                    "card_status": "blocked",
                    "replacement_business_days": REPLACEMENT_BUSINESS_DAYS,
                },
            )


def _choose_card(cards: list[Card], last4: str | None) -> Card | ActionResult:
    """The card a caller means, or a refusal saying why it isn't clear."""
    if not cards:
        return refused("no_card")
    if last4:
        digits = re.sub(r"\D", "", last4)[-4:]
        match = next((c for c in cards if c.last4 == digits), None)
        return match or refused("unknown_card", card=digits or last4)
    active = [c for c in cards if c.status == "active"]
    if len(active) == 1:
        return active[0]
    if not active:  # everything is blocked already: report the latest block
        # SQLite returns naive timestamps and Postgres aware ones: compare them without zones.
        return max(cards, key=lambda c: (c.blocked_at or datetime.min).replace(tzinfo=None))
    return refused("which_card", active_cards=[c.last4 for c in active])
