"""Password hashes with the standard library's scrypt (memory-hard; no extra dependency).

A hash is `scrypt$N$r$p$salt$key` (base64), so the cost can be raised later while old hashes
keep verifying.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import cache

N, R, P = 2**15, 8, 1  # ~32 MiB and ~50 ms per check: slow for guessing, fine for a login
KEY_BYTES = 32
MIN_LENGTH = 10


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * r * n * p, dklen=KEY_BYTES
    )


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    key = _derive(password, salt, N, R, P)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        n_, r_, p_ = int(n), int(r), int(p)
        if scheme != "scrypt" or n_ > 2**20 or r_ > 32 or p_ > 16:  # refuse absurd costs
            return False
        expected = base64.b64decode(key)
        actual = _derive(password, base64.b64decode(salt), n_, r_, p_)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@cache
def dummy_hash() -> str:
    """Checked when the name is unknown, so a wrong name costs as long as a wrong password."""
    return hash_password(os.urandom(8).hex())


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_LENGTH:
        return f"the password must have at least {MIN_LENGTH} characters"
    if password != password.strip():
        return "the password must not start or end with spaces"
    return None
