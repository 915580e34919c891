"""When and how a call goes to a person: sentiment, the escalation policy and its training,
and the hand-over (with a callback request, `voice.store.callbacks`, when it fails)."""
