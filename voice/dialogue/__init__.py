"""The conversation without pipecat: understanding a caller turn (intents, numbers,
dates), the turn manager, knowledge answers, LLM tools, the fact guard and saying values aloud."""
