"""The pipecat side of a call: the frame processors (VAD, turn end, barge-in, echo and
backchannels, transcriber, responder, speaker), our own frames, the Twilio serializer, the
pipeline's assembly (`build.py`) and running it over Twilio's websocket (`call_pipeline.py`).

Only this package imports pipecat; every pipecat internal it reaches is in `pipecat_compat.py`,
checked against the installed pipecat at start-up."""
