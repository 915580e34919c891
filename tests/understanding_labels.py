"""The label set of the understanding layer (the team's notes for issue 11), for the tests.

Kept here, apart from the product code, so a label that disappears from the trained model or
appears in the corpus without being agreed is noticed by a test rather than by a caller.
"""

from __future__ import annotations

INTENTS = frozenset(
    {
        # shop
        "order_status", "order_tracking", "order_details", "order_cancel", "order_change",
        "order_missing", "return_request", "return_status", "shop_product",
        # bank
        "account_balance", "card_block", "card_unblock", "card_status", "card_replace",
        "transfer_money", "transaction_dispute", "transaction_history", "pin_help",
        "bank_product",
        # clinics
        "appointment_book", "appointment_move", "appointment_cancel", "appointment_info",
        "prescription", "test_results", "medical_advice",
        # any line
        "opening_hours", "location", "policy_question", "speak_to_human", "complaint",
        "callback_request", "update_details", "bot_question", "out_of_scope", "none",
    }
)  # fmt: skip

ACTS = frozenset(
    {"request", "inform", "yes", "no", "correction", "unsure", "thanks", "goodbye", "greeting",
     "repeat", "wait", "chitchat"}
)  # fmt: skip
