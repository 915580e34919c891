"""Play Twilio's side of a bidirectional Media Stream against our server, from WAV files.

Developers rehearse calls with it (`callcentre simulate TURN.wav ...`) and tests drive the real
server over a real websocket. It behaves like Twilio does (Twilio's Media Streams documentation):

* it answers the call through the signed voice webhook and takes the `<Stream>` Parameters;
* it opens the signed websocket, sends `connected` and `start`, then one 20 ms `media` frame of
  caller audio (or mu-law silence) every 20 ms, paced on a monotonic clock for the whole call;
* it plays the agent's audio out of a FIFO buffer at the same 20 ms rate, echoes each `mark` when
  the audio queued before it has played, and on `clear` drops the buffer and echoes pending marks.

All times are seconds on the call timeline, which starts when `start` is sent; tick k covers
[k * 20 ms, (k + 1) * 20 ms) of both the caller's and the agent's audio.

The package, one job a module: `playout.py` (Twilio's outbound buffer), `protocol.py` (the media
stream and its clock), `webhook.py` (the signed voice webhook), `transcription.py` (what the
agent said, by Whisper), `call.py` (placing a call), `cli.py` (`callcentre simulate`).
"""

from telephony.audio_files import AudioFileError
from telephony.simulator.call import DEFAULT_URL, load_sources, simulate_call
from telephony.simulator.cli import add_arguments, run, settings_for, write_outputs
from telephony.simulator.playout import Playout
from telephony.simulator.results import SimulatedTurn, SimulationResult, SimulatorError
from telephony.simulator.transcription import transcribe_audio
from telephony.simulator.webhook import answer_webhook, stream_parameters, webhook_url

__all__ = [
    "DEFAULT_URL",
    "AudioFileError",
    "Playout",
    "SimulatedTurn",
    "SimulationResult",
    "SimulatorError",
    "add_arguments",
    "answer_webhook",
    "load_sources",
    "run",
    "settings_for",
    "simulate_call",
    "stream_parameters",
    "transcribe_audio",
    "webhook_url",
    "write_outputs",
]
