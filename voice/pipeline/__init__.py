"""The pipecat frame processors of one call (VAD, turn end, barge-in, transcriber,
responder, speaker), our own frames, and the assembly of the pipeline around a transport."""
