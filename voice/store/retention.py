"""Retention: forget calls older than RETENTION_DAYS (recordings, transcripts, call rows).

For each call that started before the cutoff and has ended: its WAV and JSONL are deleted
(only files inside RECORDINGS_DIR, whatever path the row holds), then its turns, what
managers did on it (supervisor actions, its live row) and its row,
in a short transaction per batch so live calls writing to the same database are never held up.
Recordings left in day folders older than the cutoff with no row (a database reset, a crash
before the row was written) go too, and emptied day folders are removed. A call older than
the cutoff that never ended is left alone: it may still be live; the crash repair at start-up
closes it and the next purge takes it. Every deletion is one structured log line.

`callcentre purge [--older-than-days N] [--dry-run]` runs it (cron it daily).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, inspect, select, text
from sqlalchemy.engine import Connection, Row
from sqlalchemy.orm import Session

from voice.logs import get_logger
from voice.store.calls import Store
from voice.store.schema import Call, LiveCall, SupervisorAction, Turn

log = get_logger("voice.retention")  # the name its logs have always carried

BATCH = 200  # calls per transaction: SQLite has one writer, and live calls need it too
SUFFIXES = (".wav", ".jsonl")
DAY_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Review's full-text index keeps the words of every turn it indexed (contentless FTS5):
# forgetting a transcript means taking its words out of there as well.
FTS_TABLE, FTS_STATE = "review_turns_fts", "review_turns_fts_state"


@dataclass
class PurgeReport:
    cutoff: datetime
    dry_run: bool = False
    calls: list[str] = field(default_factory=list)
    turns: int = 0
    files: list[Path] = field(default_factory=list)
    bytes_freed: int = 0
    skipped_open: int = 0  # older than the cutoff but never ended: maybe still live
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        return (
            f"{verb} {len(self.calls)} calls, {self.turns} turns, {len(self.files)} files "
            f"({self.bytes_freed / 1e6:.1f} MB) from before {self.cutoff:%Y-%m-%d %H:%M} UTC"
            f"; {self.skipped_open} unfinished calls kept; {len(self.errors)} errors"
        )


def purge(
    store: Store,
    recordings_dir: Path,
    older_than_days: float,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
) -> PurgeReport:
    """Delete every ended call that started more than `older_than_days` days ago."""
    if older_than_days <= 0:  # 0 would take today's calls, even the one ringing now
        raise ValueError("older_than_days must be positive")
    cutoff = (now or datetime.now(UTC)) - timedelta(days=older_than_days)
    report = PurgeReport(cutoff=cutoff, dry_run=dry_run)
    root = recordings_dir.resolve()
    log.info("purge started", cutoff=cutoff.isoformat(), dry_run=dry_run, root=str(root))
    _purge_calls(store, root, report)
    _purge_orphans(root, report, _known_calls(store, cutoff))
    log.info(
        "purge finished",
        calls=len(report.calls),
        turns=report.turns,
        files=len(report.files),
        bytes=report.bytes_freed,
        skipped_open=report.skipped_open,
        errors=len(report.errors),
        dry_run=dry_run,
    )
    return report


def _purge_calls(store: Store, root: Path, report: PurgeReport) -> None:
    with Session(store.engine) as db:
        report.skipped_open = len(
            db.scalars(
                select(Call.call_sid).where(
                    Call.started_at < report.cutoff, Call.ended_at.is_(None)
                )
            ).all()
        )
    after = ""  # keyset paging by CallSid: a dry run deletes nothing, so no re-reading
    while True:
        with Session(store.engine) as db:
            batch = db.execute(
                select(Call.call_sid, Call.started_at, Call.recording_path, Call.events_path)
                .where(
                    Call.started_at < report.cutoff,
                    Call.ended_at.is_not(None),
                    Call.call_sid > after,
                )
                .order_by(Call.call_sid)
                .limit(BATCH)
            ).all()
        if not batch:
            return
        for row in batch:
            for path in _call_files(root, row):
                _delete_file(path, report, call_sid=row.call_sid)
        _delete_rows(store, [row.call_sid for row in batch], report)
        after = batch[-1].call_sid


def _call_files(root: Path, row: Row[str, datetime, str, str]) -> list[Path]:
    """The call's recordings: the paths its row holds and where the recorder puts them."""
    started = row.started_at if row.started_at.tzinfo else row.started_at.replace(tzinfo=UTC)
    day = root / started.strftime("%Y-%m-%d")
    candidates = [
        Path(row.recording_path),
        Path(row.events_path),
        *(day / f"{row.call_sid}{suffix}" for suffix in SUFFIXES),
    ]
    found: list[Path] = []
    for candidate in candidates:
        path = _inside(root, candidate)
        if path is not None and path not in found:
            found.append(path)
    return found


def _inside(root: Path, candidate: Path) -> Path | None:
    """Only a recording inside RECORDINGS_DIR is ours to delete, whatever a row says."""
    if candidate.suffix not in SUFFIXES:
        return None
    try:
        path = candidate.resolve()
    except (OSError, RuntimeError):
        return None
    return path if path.is_relative_to(root) and path.is_file() else None


def _delete_file(path: Path, report: PurgeReport, call_sid: str = "") -> None:
    try:
        size = path.stat().st_size
        if not report.dry_run:
            path.unlink()
    except OSError as exc:
        report.errors.append(f"{path}: {exc}")
        log.warning("purge could not delete a recording", path=str(path), error=str(exc))
        return
    report.files.append(path)
    report.bytes_freed += size
    log.info(
        "purged recording",
        call_sid=call_sid or None,
        path=str(path),
        bytes=size,
        dry_run=report.dry_run,
    )


def _delete_rows(store: Store, call_sids: list[str], report: PurgeReport) -> None:
    with store.engine.begin() as db:
        turns = db.execute(
            select(Turn.id, Turn.call_sid, Turn.text).where(Turn.call_sid.in_(call_sids))
        ).all()
        if not report.dry_run:
            _forget_indexed_words(db, turns)
            db.execute(delete(Turn).where(Turn.call_sid.in_(call_sids)))
            # What managers did on the call (the live console) goes with it.
            db.execute(delete(SupervisorAction).where(SupervisorAction.call_sid.in_(call_sids)))
            db.execute(delete(LiveCall).where(LiveCall.call_sid.in_(call_sids)))
            db.execute(delete(Call).where(Call.call_sid.in_(call_sids)))
    per_call: dict[str, int] = dict.fromkeys(call_sids, 0)
    for turn in turns:
        per_call[turn.call_sid] += 1
    for call_sid, count in per_call.items():
        log.info("purged call", call_sid=call_sid, turns=count, dry_run=report.dry_run)
    report.calls += call_sids
    report.turns += len(turns)


def _forget_indexed_words(db: Connection, turns: Sequence[Row[int, str, str]]) -> None:
    """Take purged turns out of review's contentless FTS5 index (SQLite only).

    FTS5 deletes from a contentless index with the row's original text; a turn not yet indexed
    (above the index's bookmark) must not be 'deleted', or the index would be corrupted.
    """
    if db.dialect.name != "sqlite" or not turns or not inspect(db).has_table(FTS_STATE):
        return
    indexed_up_to = db.scalar(text(f"SELECT last_turn_id FROM {FTS_STATE}")) or 0
    rows = [{"id": t.id, "text": t.text} for t in turns if t.id <= indexed_up_to]
    if rows:
        db.execute(
            text(
                f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, text) VALUES ('delete', :id, :text)"
            ),
            rows,
        )


def _known_calls(store: Store, cutoff: datetime) -> set[str]:
    """Calls from before the cutoff that still have a row (unfinished; all in a dry run)."""
    with Session(store.engine) as db:
        return set(db.scalars(select(Call.call_sid).where(Call.started_at < cutoff)))


def _purge_orphans(root: Path, report: PurgeReport, keep: set[str]) -> None:
    """Recordings in day folders wholly before the cutoff that no remaining call row owns."""
    if not root.is_dir():
        return
    cutoff_day = report.cutoff.strftime("%Y-%m-%d")
    for folder in sorted(root.iterdir()):
        if (
            folder.is_symlink()
            or not folder.is_dir()
            or not DAY_FOLDER.match(folder.name)
            or folder.name >= cutoff_day
        ):
            continue
        for path in sorted(folder.iterdir()):
            if (
                path.suffix in SUFFIXES
                and path.stem not in keep
                and path.is_file()
                and not path.is_symlink()
            ):
                _delete_file(path, report)
        if not report.dry_run and not any(folder.iterdir()):
            folder.rmdir()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--older-than-days",
        type=float,
        default=None,
        help="delete calls that started more than this many days ago (default: RETENTION_DAYS)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would be deleted, delete nothing"
    )


def run(args: argparse.Namespace) -> int:
    from voice.logs import configure_logging
    from voice.settings import get_settings

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    days = args.older_than_days if args.older_than_days is not None else settings.retention_days
    if not days or days <= 0:
        print("purge: retention is off (RETENTION_DAYS=0); pass --older-than-days N")
        return 2 if args.older_than_days is not None else 0
    report = purge(Store(settings.database), settings.recordings_dir, days, dry_run=args.dry_run)
    print(f"purge: {report.summary()}")
    return 1 if report.errors else 0
