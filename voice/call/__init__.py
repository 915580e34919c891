"""One call, built and closed in one place.

A call is a `CallSession` (`voice/session.py`: recording, rows, and `end(reason)`, the one way a
call's end reason is set) with a dialogue around it (`dialogue.py`): the turn manager with the
caller's history looked up, the hand-over (sentiment, escalation policy, transfer), the
conversation that words the replies, and the outcome stored when the call closes.

- `phone.py`: a phone call. The telephony edge hands over an accepted, checked websocket and the
  caller's number from the signed webhook; the call runs the pipecat pipeline over it
  (`voice/pipeline/call_pipeline.py`) and is closed whatever happened. Watchers (a live
  supervisor's console) are told when each call opens and closes.
- `text.py`: the same dialogue with text in and out (`callcentre chat`, `eval --text`); it
  never loads pipecat.

Nothing here imports this package's modules for you: importing `voice.call.text` must not load
pipecat, which `voice.call.phone` does.
"""
