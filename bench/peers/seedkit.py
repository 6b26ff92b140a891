"""What every peer's ``bench_seed`` command shares: random token strings, the PKCE pair,
Basic credentials and the files the wrk scripts read (one token a line)."""

import base64
import hashlib
import json
import secrets
from pathlib import Path

#: One code_verifier for every pre-created code (RFC 7636 §4.1: 43-128 characters).
VERIFIER = "bench-verifier-" + "v" * 40
CHALLENGE = (
    base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
)
REDIRECT_URI = "https://app.bench.test/callback"


def token() -> str:
    return secrets.token_urlsafe(30)


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def add_arguments(parser) -> None:
    parser.add_argument("--out", required=True, help="folder for seed.json and the pools")
    parser.add_argument("--tokens", type=int, default=10000, help="distinct access tokens")
    parser.add_argument("--refresh", type=int, default=10000, help="refresh tokens, each used once")
    parser.add_argument("--codes", type=int, default=10000, help="authorization codes (PKCE)")


def write(out: str, seed: dict, pools: dict[str, list[str]]) -> None:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    for name, values in pools.items():
        (folder / f"{name}.txt").write_text("\n".join(values) + "\n")
    (folder / "seed.json").write_text(json.dumps(seed, indent=2))
