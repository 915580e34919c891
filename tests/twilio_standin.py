"""A local stand-in for the part of Twilio's REST API that moves, ends or places calls.

`POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json` (update) and
`POST /2010-04-01/Accounts/{AccountSid}/Calls.json` (create) as Twilio answers them: HTTP Basic
auth (AccountSid:AuthToken), the path's account must be the authenticated one, an updated call
must exist, `Twiml` must be XML with a `<Response>` root; a new call needs `To` and `From` in
E.164, `From` one of the account's numbers (`caller_ids`), and `Twiml` or `Url`. The answer is
a JSON call resource (201 for a new one), or Twilio's error shape (`code`, `message`,
`more_info`, `status`). Every request is recorded for assertions. `report` then plays Twilio's
part after a call was placed: a signed POST to a callback URL the request gave. Served by
uvicorn in a thread on 127.0.0.1 and a free port.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import socket
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from twilio.request_validator import RequestValidator

API_VERSION = "2010-04-01"
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


@dataclass
class RecordedRequest:
    method: str
    path: str
    account_sid: str
    call_sid: str
    auth: tuple[str, str] | None
    form: dict[str, str]
    twiml: ET.Element | None = None
    multi: list[tuple[str, str]] = field(default_factory=list)  # repeated fields, in order

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.multi if key == name]


@dataclass
class TwilioStandin:
    account_sid: str
    auth_token: str
    calls: set[str] = field(default_factory=set)
    requests: list[RecordedRequest] = field(default_factory=list)
    fail_status: int | None = None  # answer every request with this status (e.g. 500)
    caller_ids: set[str] = field(default_factory=set)  # the numbers a new call may come from
    answer_override: dict[str, object] | None = None  # a 201 with this body instead (bad answers)
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

    def report(self, url: str, fields: dict[str, str]) -> httpx.Response:
        """What Twilio does when a placed call moves on: POST `fields` to one of the callback
        URLs the create request gave, signed with the account's auth token."""
        signature = RequestValidator(self.auth_token).compute_signature(url, fields)
        return httpx.post(url, data=fields, headers={"X-Twilio-Signature": signature}, timeout=10)

    def __enter__(self) -> TwilioStandin:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def build_app(standin: TwilioStandin) -> FastAPI:
    app = FastAPI()

    @app.post(f"/{API_VERSION}/Accounts/{{account_sid}}/Calls.json")
    async def create_call(account_sid: str, request: Request) -> JSONResponse:
        multi = [(k, str(v)) for k, v in (await request.form()).multi_items()]
        record = RecordedRequest(
            request.method, request.url.path, account_sid, "", _basic_auth(request), dict(multi)
        )
        record.multi = multi
        standin.requests.append(record)
        return _answer_create(standin, record)

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


def _answer_create(standin: TwilioStandin, record: RecordedRequest) -> JSONResponse:
    if standin.fail_status is not None:
        return _error(standin.fail_status, 20500, "Internal Server Error")
    if record.auth != (standin.account_sid, standin.auth_token):
        return _error(401, 20003, "Authenticate")
    if record.account_sid != standin.account_sid:
        return _error(404, 20404, f"The requested resource {record.path} was not found")
    to, from_ = record.form.get("To", ""), record.form.get("From", "")
    if not E164.fullmatch(to):
        return _error(400, 21211, f"Invalid 'To' Phone Number: {to}")
    if not E164.fullmatch(from_):
        return _error(400, 21212, f"Invalid 'From' Phone Number: {from_}")
    if from_ not in standin.caller_ids:
        return _error(
            400,
            21210,
            f"The source phone number provided, {from_}, is not yet verified for your account.",
        )
    if "Twiml" not in record.form and "Url" not in record.form:
        return _error(400, 21205, "Url parameter is required.")
    if "Twiml" in record.form:
        try:
            record.twiml = ET.fromstring(record.form["Twiml"])
        except ET.ParseError as exc:
            return _error(400, 12100, f"Document parse failure: {exc}")
    record.call_sid = "CA" + secrets.token_hex(16)
    standin.calls.add(record.call_sid)
    if standin.answer_override is not None:
        return JSONResponse(standin.answer_override, status_code=201)
    body = _call_resource(standin.account_sid, record.call_sid, "queued")
    body.update({"direction": "outbound-api", "from": from_, "to": to})
    return JSONResponse(body, status_code=201)


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
