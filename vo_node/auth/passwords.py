"""Password hashing (argon2id) and the short-lived cache of verified credentials.

An argon2 check costs about 0.2 s of CPU here on purpose (it is what makes a stolen hash
expensive to attack). pyvo and curl send HTTP Basic credentials on every request, so a
verified (user, password) pair is remembered for a while, by a salted digest, never in
clear: a client calling 100 times pays for one check. A changed password or a disabled
user takes effect when the entry expires (``CACHE_S``) or at once in the process that made
the change.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections import OrderedDict

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

CACHE_S = 60.0
_CACHE_SIZE = 4096
_HASHER = PasswordHasher()
MIN_LENGTH = 8


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password has at least {MIN_LENGTH} characters")
    return _HASHER.hash(password)


def check_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches the stored hash (``None``: no password set, or no such
    user: the same work is done, so timing does not tell which)."""
    try:
        return _HASHER.verify(stored or _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


_DUMMY = _HASHER.hash(os.urandom(16).hex())


class VerifiedCache:
    """(user, password, stored hash) triples verified in the last ``ttl`` seconds, by keyed
    digest. The stored hash is part of the key: the caller reads it for every request (one
    indexed lookup), so a new password or a disabled account misses the cache at once."""

    def __init__(self, ttl: float = CACHE_S, size: int = _CACHE_SIZE) -> None:
        self.ttl = ttl
        self.size = size
        self._salt = os.urandom(32)
        self._entries: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def _digest(self, user: str, password: str, stored: str) -> bytes:
        message = f"{user}\0{password}\0{stored}".encode()
        return hmac.new(self._salt, message, hashlib.sha256).digest()

    def hit(self, user: str, password: str, stored: str) -> bool:
        key = self._digest(user, password, stored)
        with self._lock:
            expires = self._entries.get(key)
            if expires is None:
                return False
            if expires < time.monotonic():
                del self._entries[key]
                return False
            return True

    def remember(self, user: str, password: str, stored: str) -> None:
        key = self._digest(user, password, stored)
        with self._lock:
            self._entries[key] = time.monotonic() + self.ttl
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def forget_all(self) -> None:
        with self._lock:
            self._entries.clear()
