"""The OpenAI-compatible backend: business actions offered as tools, answers still guarded."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from openai_standin import OpenAIStandin
from sqlalchemy import create_engine, text

from telephony.evaluation import CallerVoice, call_events
from telephony.local_server import LocalServer
from telephony.simulator import simulate_call
from voice.dialogue.fact_guard import check_reply
from voice.dialogue.policy import TurnManager
from voice.dialogue.tools import TOOLS, ToolRunner
from voice.engines.embeddings import shared_embedder
from voice.engines.llm import OpenAICompatibleLLM
from voice.engines.resources import BusinessResources
from voice.settings import Settings
from voice.store.calls import Store

MARIA = "+15551234567"


@pytest.fixture()
def turns(tmp_path) -> TurnManager:
    settings = Settings(_env_file=None, RECORDINGS_DIR=tmp_path)
    resources = BusinessResources.open(
        Store(f"sqlite:///{tmp_path / 'db.sqlite'}"), shared_embedder(), settings
    )
    return TurnManager(
        resources.business,
        resources.knowledge,
        shared_embedder(),
        resources.history.profile(MARIA),
        MARIA,
    )


def tool_then_echo(body: dict) -> dict:
    """Call a tool first; then say exactly what the tool returned (a well-behaved model)."""
    tool_results = [m["content"] for m in body["messages"] if m["role"] == "tool"]
    if not tool_results:
        assert {t["function"]["name"] for t in body["tools"]} >= {"order_status", "start_return"}
        return {"tool_calls": [("order_status", json.dumps({"order_number": "4521"}))]}
    return {"text": tool_results[-1]}


async def collect(llm, turns, question: str) -> tuple[str, ToolRunner]:
    runner = ToolRunner(turns)
    text = ""
    async for piece in llm.stream(
        [{"role": "user", "content": question}], tools=TOOLS, call_tool=runner
    ):
        text += piece
    return text.strip(), runner


async def test_the_model_looks_up_an_order_with_a_tool(turns):
    with OpenAIStandin(tool_then_echo) as server:
        llm = OpenAICompatibleLLM("standin", server.base_url, "key")
        text, runner = await collect(llm, turns, "Where is order 4521?")
    assert len(server.requests) == 2  # the tool call, then the answer with its result
    assert "4521" in text and "UPS" in text
    assert runner.facts["order_number"] == "4521"
    assert check_reply(text, runner.facts, " ".join(runner.results)).ok


async def test_a_changing_action_from_the_model_only_asks_for_confirmation(turns):
    def start_return(body: dict) -> dict:
        if not any(m["role"] == "tool" for m in body["messages"]):
            return {"tool_calls": [("start_return", json.dumps({"order_number": "4388"}))]}
        return {"text": [m["content"] for m in body["messages"] if m["role"] == "tool"][-1]}

    with OpenAIStandin(start_return) as server:
        llm = OpenAICompatibleLLM("standin", server.base_url, "key")
        text, _ = await collect(llm, turns, "I want to send my shoes back")
    # The tool only asks, naming the action and its object, in the agent's words.
    assert "shall i start a return for order 4388" in text.lower()
    question = turns.state.question
    assert question is not None and question.kind == "confirm"
    assert question.action == "start_return" and question.args["order_number"] == "4388"
    assert turns._business.order("4388").return_status is None  # nothing done on its word
    done = turns.handle("yes please")  # the caller's yes does it
    assert done.does == "start_return" and not done.failed
    assert turns._business.order("4388").return_status == "started"


async def test_a_hallucinated_date_from_the_model_fails_the_guard(turns):
    def invent(body: dict) -> dict:
        if not any(m["role"] == "tool" for m in body["messages"]):
            return {"tool_calls": [("order_status", json.dumps({"order_number": "4521"}))]}
        return {"text": "Your order will arrive on Friday, December 25."}

    with OpenAIStandin(invent) as server:
        llm = OpenAICompatibleLLM("standin", server.base_url, "key")
        text, runner = await collect(llm, turns, "When does 4521 arrive?")
    assert not check_reply(text, runner.facts, " ".join(runner.results)).ok


# Said by the stand-in model: grounded in the refund passage, so the fact guard lets it through.
STANDIN_REPLY = "The refund reaches your original payment method within 5 business days."


async def test_a_call_with_the_openai_backend_grounds_the_model_and_offers_tools(tmp_path: Path):
    """LLM_BACKEND=openai through a whole call: a policy question goes to the model."""
    question = CallerVoice(tmp_path / "voices").wav_for(
        "How long does a refund take once you get the item back?"
    )
    with (
        OpenAIStandin(lambda body: {"text": STANDIN_REPLY}) as model,
        LocalServer(
            tmp_path / "server",
            extra_env={
                "LLM_BACKEND": "openai",
                "LLM_MODEL": "standin",
                "LLM_BASE_URL": model.base_url,
            },
        ) as server,
    ):
        result = await simulate_call(
            [str(question)],
            url=server.media_url,
            settings=server.settings,
            caller=MARIA,
            transcribe=False,
        )
        events = await call_events(server.recordings, result.call_sid)
        said = await agent_turns(server.database_url, result.call_sid)
    understood = next(e for e in events if e["type"] == "understood")
    assert understood["llm"], understood
    body = model.requests[0]
    assert {t["function"]["name"] for t in body["tools"]} == {t["function"]["name"] for t in TOOLS}
    system = body["messages"][0]["content"]
    assert "Maria" in system  # the caller's history
    assert "Policy:" in system and "5 business days" in system  # the retrieved passage
    assert "refund" in body["messages"][-1]["content"].lower()  # the caller's words
    assert STANDIN_REPLY in said, said


async def agent_turns(database_url: str, call_sid: str, timeout: float = 10.0) -> list[str]:
    """The call's stored agent turns, once the greeting and the answer have landed."""
    engine = create_engine(database_url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as db:
                said = (
                    db.execute(
                        text(
                            "select text from turns where call_sid = :sid and "
                            "role = 'agent' order by id"
                        ),
                        {"sid": call_sid},
                    )
                    .scalars()
                    .all()
                )
            if len(said) >= 2 or time.monotonic() > deadline:  # rows land off the call's loop
                return list(said)
            await asyncio.sleep(0.2)
    finally:
        engine.dispose()
