"""Whisper with one encoder pass per utterance, on a window that may be cut to its length.

faster-whisper, asked to detect the language, encodes the audio twice: once to detect, once
to decode. Here each utterance is encoded once and that encoding serves both, which halves
the encoder work (the encoder is most of Whisper's time on a CPU).

CTranslate2's encoder also takes windows shorter than Whisper's 30 s: the encoder's attention
grows with the square of the window, so 10 s encodes 6-12x faster. Whisper then reads digit
strings less reliably ("four five two one" -> "4 times 2 1", "4521" -> "4.521") and some words
too: `bench/stt_window.py --numbers 40` read 43 of 80 digit strings right with a 10 s window
against 44 of 80 with 30 s, its scenario set 12 of 19 against 14 of 19. So the shortest window
is `STT_WINDOW_SECS` (30 s by default), and with a shorter one an utterance it heard a number
in is decoded again in the full window (`voice/engines/stt.py`). Generation is capped
by the audio's length, so a decoding loop cannot run for long.

CTranslate2 (4.x) lets Whisper generate at most half of the `max_length` it is given, prompt
included (`min(max_length / 2, max_length - prompt)` in its whisper.cc, the reference
implementation's 224-token sample length). faster-whisper's `max_new_tokens` does not know
that: asked for N new tokens it gets about N / 2, and a long or quick turn lost its last words
("...whether I have to send the receipt with the" and nothing after). `generation_limit`
asks for what makes CTranslate2 allow the tokens wanted.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

FRAMES_PER_SECOND = 100  # Whisper's mel frames
FULL_WINDOW_FRAMES = 3000  # 30 s: what Whisper was trained on
TOKENS_PER_SECOND = 8  # generous for speech (~3 words, ~4-5 tokens a second; digits more)
MIN_NEW_TOKENS = 16
MAX_LENGTH = 448  # Whisper's text context: prompt and generated tokens together
# Whisper's own "this was silence" test (faster-whisper's defaults).
NO_SPEECH_THRESHOLD = 0.6
LOG_PROB_THRESHOLD = -1.0
PAD_S = 3.0  # silence after the speech, inside the window


@dataclass(frozen=True)
class Decoded:
    text: str
    language: str  # detected (or the expected one, when detection was not asked for)
    language_probability: float
    no_speech_probability: float
    avg_logprob: float = 0.0  # the decoder's mean log-probability per token: its confidence


def window_frames(content_frames: int, min_window_s: float, pad_s: float) -> int:
    """Frames to encode: the speech plus `pad_s`, at least `min_window_s`, whole seconds."""
    wanted = max(min_window_s * FRAMES_PER_SECOND, content_frames + pad_s * FRAMES_PER_SECOND)
    whole_seconds = math.ceil(wanted / FRAMES_PER_SECOND) * FRAMES_PER_SECOND
    return int(min(FULL_WINDOW_FRAMES, whole_seconds))


def token_budget(seconds: float) -> int:
    """Tokens the words of `seconds` of audio may take: a loop stops there, speech never does."""
    return MIN_NEW_TOKENS + math.ceil(TOKENS_PER_SECOND * seconds)


def generation_limit(prompt_tokens: int, wanted: int) -> int:
    """The `max_new_tokens` under which CTranslate2 generates up to `wanted` tokens.

    It stops at `min(max_length / 2, max_length - prompt)` with `max_length` = prompt + new:
    asking for `2 * wanted - prompt` new tokens gives `wanted`. Should a later CTranslate2
    drop the halving, this only loosens the cap; it never cuts words. Whisper cannot go past
    its context, which is at most `MAX_LENGTH / 2` tokens here.
    """
    return max(1, min(MAX_LENGTH - prompt_tokens, max(wanted, 2 * wanted - prompt_tokens)))


class WindowedWhisper:
    """Decodes one utterance (up to ~30 s) with a faster-whisper `WhisperModel`.

    It uses the model's own feature extractor, encoder, prompt and temperature-fallback
    generation (`generate_with_fallback`), with the options faster-whisper builds from our
    arguments; only the window length and the single encoder pass differ.
    """

    def __init__(
        self,
        model: Any,
        beam_size: int,
        min_window_s: float = 30.0,
        pad_s: float = PAD_S,
        encode: Callable[[np.ndarray], Any] | None = None,
        fallback: bool = True,
    ) -> None:
        """`encode` replaces the model's own encoder call (`voice/engines/encoder_batch.py`);
        without `fallback`, an unsure greedy decode is not tried again at higher temperatures
        (each try is another decode: 0.4-1.3 s on cafe noise)."""
        self._model = model
        self._encode = encode or model.encode
        self._min_window_s, self._pad_s = min_window_s, pad_s
        self._tokenizers: dict[str, Any] = {}
        # faster-whisper turns keyword arguments into TranscriptionOptions; take its own.
        _, info = model.transcribe(
            np.zeros(1600, dtype=np.float32),
            language="en",
            beam_size=beam_size,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
            **({} if fallback else {"temperature": 0.0}),
        )
        self._options = info.transcription_options

    @property
    def max_seconds(self) -> float:
        """The longest utterance one window takes with its padding."""
        return FULL_WINDOW_FRAMES / FRAMES_PER_SECOND - self._pad_s

    def fits(self, audio: np.ndarray) -> bool:
        """Whether the utterance fits one window with its padding."""
        return len(audio) / 16000 <= self.max_seconds

    def decode(
        self, audio: np.ndarray, expected: str | None, detect: bool, confident: float
    ) -> Decoded:
        """Transcribe mono float32 16 kHz `audio`.

        With `detect`, the language is detected on the same encoding; an unsure guess at
        another language than `expected` (probability below `confident`) is decoded as
        `expected`, since it garbles the words.
        """
        from faster_whisper.audio import pad_or_trim

        features = self._model.feature_extractor(audio)
        frames = window_frames(features.shape[-1], self._min_window_s, self._pad_s)
        encoded = self._encode(pad_or_trim(features[:, :frames], frames))
        language, probability = expected or "en", 1.0
        if detect or not expected:
            language, probability = self._detect(encoded)
            if expected and language != expected and probability < confident:
                language, probability = expected, 1.0
        text, no_speech, logprob = self._generate(encoded, language, len(audio) / 16000)
        return Decoded(text, language, probability, no_speech, logprob)

    def _detect(self, encoded: Any) -> tuple[str, float]:
        token, probability = self._model.model.detect_language(encoded)[0][0]
        return token[2:-2], float(probability)  # "<|en|>" -> "en"

    def _generate(self, encoded: Any, language: str, seconds: float) -> tuple[str, float, float]:
        tokenizer = self._tokenizer(language)
        prompt = self._model.get_prompt(tokenizer, [], without_timestamps=True)
        options = dataclasses.replace(
            self._options,
            max_new_tokens=generation_limit(len(prompt), token_budget(seconds)),
        )
        result, avg_logprob, _, _ = self._model.generate_with_fallback(
            encoded, prompt, tokenizer, options
        )
        no_speech = float(result.no_speech_prob)
        if no_speech > NO_SPEECH_THRESHOLD and avg_logprob < LOG_PROB_THRESHOLD:
            return "", no_speech, avg_logprob  # what faster-whisper's transcribe() skips
        return tokenizer.decode(result.sequences_ids[0]).strip(), no_speech, avg_logprob

    def _tokenizer(self, language: str) -> Any:
        if language not in self._tokenizers:
            from faster_whisper.tokenizer import Tokenizer

            self._tokenizers[language] = Tokenizer(
                self._model.hf_tokenizer,
                self._model.model.is_multilingual,
                task="transcribe",
                language=language,
            )
        return self._tokenizers[language]
