"""The registry behind the log guard: every password, secret or token a test handles.

Fixtures and helpers call ``remember_secret`` with what they create or receive; the autouse
``no_secrets_in_logs`` fixture fails any test whose log records, or whose live servers' and
workers' log files, contain one of them.
"""

from __future__ import annotations

import logging
from pathlib import Path

_session_secrets: set[str] = set()
_test_secrets: set[str] = set()
_watched_files: dict[Path, int] = {}

# Shorter values are too likely to occur by chance in unrelated text.
MIN_SECRET_LENGTH = 8


def remember_secret(value: str | None, *, session: bool = False) -> str | None:
    if value and len(value) >= MIN_SECRET_LENGTH:
        (_session_secrets if session else _test_secrets).add(value)
    return value


def watch_log_file(path: Path) -> None:
    """Scan what is appended to ``path`` (a server's or worker's log) after each test."""
    _watched_files[path] = path.stat().st_size if path.exists() else 0


def all_secrets() -> set[str]:
    return _session_secrets | _test_secrets


def forget_test_secrets() -> None:
    _test_secrets.clear()


def leaks_in(text: str, secrets: set[str] | None = None) -> list[str]:
    secrets = all_secrets() if secrets is None else secrets
    return sorted(s for s in secrets if s in text)


def new_log_file_text() -> str:
    chunks = []
    for path, offset in list(_watched_files.items()):
        if path.exists():
            with path.open("rb") as fh:
                fh.seek(offset)
                chunks.append(fh.read().decode("utf-8", "replace"))
            _watched_files[path] = path.stat().st_size
    return "\n".join(chunks)


class CapturingHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.texts: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a broken record must not hide the others
            text = f"{record.msg!r} {record.args!r}"
        extra = {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}
        self.texts.append(f"{text} {extra!r}" if extra else text)


_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "tenant",
}
