"""The conversation: everything between the caller's audio coming in and the agent's going out.

- `call/`: one call, built and closed in one place (phone and text calls);
- `pipeline/`: the pipecat frame processors and the only modules that import pipecat;
- `engines/`: the models loaded once per process (STT, LLM, TTS, embeddings);
- `dialogue/`: understanding, dialogue state, policy and wording, without pipecat;
- `business/`: the business's data and actions, as facts and reason codes;
- `escalation/`: sentiment, the escalation policy and the hand-over to a person;
- `store/`: every table (`store/schema.py`) and what reads and writes them, recordings on disk;
- `supervision/`: a live call's side of the supervisors' console;
- `session.py` (what one call owns, and why it ended), `conversation.py` (a turn in, a reply
  out), `settings.py` (the one settings object), `privacy.py` (masking), `logs.py`, `metrics.py`.

`voice` never imports `telephony` or `review` (docs/architecture.md; tests/test_layout.py).
"""
