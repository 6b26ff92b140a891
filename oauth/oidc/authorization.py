"""OpenID Connect parameters of the authorization request (OIDC Core §3.1.2.1).

``max_age`` and ``prompt=login`` decide whether the user must sign in again before the
authorization server answers; the grant and the authorize view both ask here.
"""

from __future__ import annotations

import time


def parse_max_age(value: str | None) -> int | None:
    """Core §3.1.2.1 ``max_age``: a non-negative integer number of seconds, or None.

    Raises ``ValueError`` for anything else (the grant answers ``invalid_request``).
    """
    if value is None or value == "":
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 10:
        raise ValueError("max_age must be a non-negative integer number of seconds.")
    return int(value)


def needs_fresh_login(*, prompts: set[str], max_age: int | None, auth_time: int | None) -> bool:
    """Core §3.1.2.1: ``prompt=login``, ``max_age=0`` (its equivalent), or a login older
    than ``max_age`` seconds means the user signs in again."""
    if "login" in prompts or max_age == 0:
        return True
    if max_age is None:
        return False
    return auth_time is None or time.time() - auth_time > max_age
