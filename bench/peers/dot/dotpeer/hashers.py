import hashlib

from django.contrib.auth.hashers import BasePasswordHasher
from django.utils.crypto import constant_time_compare


class SHA256Hasher(BasePasswordHasher):
    """One salted SHA-256: the fast client-secret hasher of the bench (secrets are random,
    so a slow hash buys nothing against guessing)."""

    algorithm = "bench_sha256"

    def encode(self, password, salt):
        return f"{self.algorithm}${salt}${hashlib.sha256((salt + password).encode()).hexdigest()}"

    def decode(self, encoded):
        algorithm, salt, digest = encoded.split("$", 2)
        return {"algorithm": algorithm, "hash": digest, "salt": salt}

    def verify(self, password, encoded):
        salt = encoded.split("$", 2)[1]
        return constant_time_compare(encoded, self.encode(password, salt))

    def safe_summary(self, encoded):
        return {"algorithm": self.algorithm}
