"""How many rows an UPDATE or DELETE touched.

`Session.execute` is typed to return a plain `Result`; for DML it is a `CursorResult`, which
knows its `rowcount`. Said once here rather than cast at every call site.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy.engine import CursorResult, Result


def rows_changed(result: Result[Any]) -> int:
    return int(cast(CursorResult[Any], result).rowcount)
