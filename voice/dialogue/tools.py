"""The business's look-ups and actions offered to a capable LLM as tools (function calling).

Every tool runs through the turn manager, so a model that calls tools gets the same facts
and the same rule as the prepared replies: a changing action is never done on the model's
word; it becomes a question the caller must answer yes to.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from voice.dialogue.plan import TurnPlan
from voice.dialogue.policy import TurnManager

_DATE = {"type": "string", "description": "ISO date, e.g. 2026-12-03"}
_TIME = {"type": "string", "description": "24-hour time, e.g. 14:30"}


def _tool(name: str, description: str, **properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties},
        },
    }


TOOLS: list[dict[str, Any]] = [
    _tool(
        "order_status",
        "Status, shipping and delivery dates of an order.",
        order_number={"type": "string"},
    ),
    _tool(
        "start_return",
        "Start a return (the caller is asked to confirm first).",
        order_number={"type": "string"},
        reason={"type": "string"},
    ),
    _tool(
        "account_balance",
        "The caller's account balances.",
        account_kind={"type": "string", "enum": ["checking", "savings"]},
    ),
    _tool(
        "block_card",
        "Block a lost or stolen card (confirmed with the caller first).",
        card_last4={"type": "string"},
    ),
    _tool(
        "book_appointment",
        "Find free times or book a clinic appointment (confirmed first).",
        date=_DATE,
        time=_TIME,
        appointment_kind={"type": "string"},
    ),
    _tool(
        "move_appointment",
        "Move one of the caller's upcoming appointments to a new day "
        "and time (confirmed first); with several, the kind picks one, or the caller is asked.",
        date={**_DATE, "description": "the new day, ISO date"},
        time=_TIME,
        appointment_kind={"type": "string"},
    ),
    _tool(
        "cancel_appointment",
        "Cancel one of the caller's upcoming appointments (confirmed "
        "first); with several, its day or kind picks one, or the caller is asked.",
        date={**_DATE, "description": "the day of the appointment to cancel, ISO date"},
        appointment_kind={"type": "string"},
    ),
    _tool(
        "search_policies", "Search the shop, bank and clinic policies.", question={"type": "string"}
    ),
]


class ToolRunner:
    """Runs tool calls for one call; collects the facts they returned for the fact guard."""

    def __init__(self, turns: TurnManager) -> None:
        self._turns = turns
        self.facts: dict[str, str] = {}
        self.results: list[str] = []  # what the tools said: the guard lets the reply repeat it
        # The latest task a tool ran: its question is now the open one.
        self.plan: TurnPlan | None = None

    async def __call__(self, name: str, arguments: str) -> str:
        try:
            args = json.loads(arguments or "{}")
        except ValueError:
            return "error: arguments are not JSON"
        if not isinstance(args, dict) or name not in {t["function"]["name"] for t in TOOLS}:
            return f"error: unknown tool {name}"
        plan = await asyncio.to_thread(self._turns.plan_task, name, args)
        self.facts.update(plan.facts)
        self.results.append(plan.say)
        self.plan = plan
        return plan.say or "No result."
