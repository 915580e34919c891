"""A local stand-in for the part of Twilio's REST API that moves or ends a live call.

`POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json` as Twilio answers it: HTTP Basic
auth (AccountSid:AuthToken), the path's account must be the authenticated one, the call must
exist, `Twiml` must be XML with a `<Response>` root; the answer is a JSON call resource, or
Twilio's error shape (`code`, `message`, `more_info`, `status`). Every request is recorded for
assertions. Served by uvicorn in a thread on 127.0.0.1 and a free port.
"""

from __future__ import annotations

import base64
import binascii
import socket
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

API_VERSION = "2010-04-01"


@dataclass
class RecordedRequest:
    method: str
    path: str
    account_sid: str
    call_sid: str
    auth: tuple[str, str] | None
    form: dict[str, str]
    twiml: ET.Element | None = None


@dataclass
class TwilioStandin:
    account_sid: str
    auth_token: str
    calls: set[str] = field(default_factory=set)
    requests: list[RecordedRequest] = field(default_factory=list)
    fail_status: int | None = None  # answer every request with this status (e.g. 500)
    delay_s: float = 0.0  # answer this late (timeouts)
    port: int = 0
    _server: uvicorn.Server | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_call(self, call_sid: str) -> str:
        self.calls.add(call_sid)
        return call_sid

    def start(self) -> TwilioStandin:
        self.port = _free_port()
        config = uvicorn.Config(
            build_app(self), host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the Twilio stand-in did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    def __enter__(self) -> TwilioStandin:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def build_app(standin: TwilioStandin) -> FastAPI:
    app = FastAPI()

    @app.post(f"/{API_VERSION}/Accounts/{{account_sid}}/Calls/{{call_file}}")
    async def update_call(account_sid: str, call_file: str, request: Request) -> JSONResponse:
        form = {k: str(v) for k, v in (await request.form()).items()}
        call_sid = call_file.removesuffix(".json")
        record = RecordedRequest(
            request.method, request.url.path, account_sid, call_sid, _basic_auth(request), form
        )
        standin.requests.append(record)
        if standin.delay_s:
            time.sleep(standin.delay_s)  # blocks this test server only, on purpose
        return _answer(standin, record)

    return app


def _answer(standin: TwilioStandin, record: RecordedRequest) -> JSONResponse:
    if standin.fail_status is not None:
        return _error(standin.fail_status, 20500, "Internal Server Error")
    if record.auth != (standin.account_sid, standin.auth_token):
        return _error(401, 20003, "Authenticate")
    if record.account_sid != standin.account_sid or record.call_sid not in standin.calls:
        return _error(404, 20404, f"The requested resource {record.path} was not found")
    if "Twiml" in record.form:
        try:
            record.twiml = ET.fromstring(record.form["Twiml"])
        except ET.ParseError as exc:
            return _error(400, 12100, f"Document parse failure: {exc}")
        if record.twiml.tag != "Response":
            return _error(400, 12100, "Document parse failure: root element is not <Response>")
    status = "completed" if record.form.get("Status") == "completed" else "in-progress"
    return JSONResponse(_call_resource(standin.account_sid, record.call_sid, status))


def _call_resource(account_sid: str, call_sid: str, status: str) -> dict[str, object]:
    now = format_datetime(datetime.now(UTC), usegmt=True)
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Calls/{call_sid}.json"
    return {
        "sid": call_sid,
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "status": status,
        "direction": "inbound",
        "from": "+15550001111",
        "to": "+15550009999",
        "date_created": now,
        "date_updated": now,
        "start_time": now,
        "end_time": now if status == "completed" else None,
        "duration": None,
        "price": None,
        "price_unit": "USD",
        "parent_call_sid": None,
        "phone_number_sid": None,
        "forwarded_from": None,
        "caller_name": None,
        "answered_by": None,
        "group_sid": None,
        "queue_time": "0",
        "trunk_sid": None,
        "uri": uri,
        "subresource_uris": {},
        "annotation": None,
    }


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )


def _basic_auth(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
