"""The OpenAPI 3.1 description of a tenant host's HTTP API (``openapi.json`` beside this file).

The file is the source; it is read once per process. Each tenant host serves it with its
own issuer as the only server URL, so a tool pointed at ``/openapi.json`` talks to that
tenant and no other.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

PATH = Path(__file__).with_name("openapi.json")


@cache
def _source() -> dict:
    return json.loads(PATH.read_text(encoding="utf-8"))


def openapi_document(*, issuer: str) -> dict:
    """The description with ``issuer`` as its server (OpenAPI 3.1 §4.8.5)."""
    document = copy.deepcopy(_source())
    document["servers"] = [{"url": issuer, "description": "This tenant's issuer."}]
    return document
