"""A supervisor's "block" on the live console reaches the dialogue: the flagged action is not
taken even after the caller's explicit yes, the caller hears so, and other actions still run.
The turn manager runs as in tests/test_dialogue.py (real reader, real embedder, seeded SQLite)."""

from __future__ import annotations

from test_dialogue import OLGA, call, card_status, engine, knowledge, reader  # noqa: F401


def test_a_blocked_action_is_not_taken_on_a_yes(call, engine):  # noqa: F811
    olga = call(OLGA)
    asked = olga.say("Someone pinched my card on the bus, can you stop it?")
    assert asked.offers == "block_card" and olga.turns.state.question.action == "block_card"
    assert olga.turns.forbid("block_card")  # the supervisor flags the pending action
    assert not olga.turns.forbid("drop_database")  # not an action the agent has
    refused = olga.say("Yes, go ahead.")
    assert refused.does is None and "can't block" in refused.say
    assert card_status(engine)["6620"] == "active" and olga.actions == []
    again = olga.say("Please block my card ending 6620.")
    assert again.offers == "block_card"  # it may still ask...
    assert olga.say("Yes.").does is None  # ...but a yes never runs it on this call
    assert card_status(engine)["6620"] == "active"


def test_other_actions_still_run(call, engine):  # noqa: F811
    olga = call(OLGA)
    olga.turns.forbid("cancel_appointment")
    olga.say("Someone pinched my card on the bus, can you stop it?")
    assert olga.say("Yes, go ahead.").does == "block_card"
    assert card_status(engine)["6620"] == "blocked"
