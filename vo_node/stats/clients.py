"""What the statistics keep of a client: its country and a visitor key of the day, never its
address (migration 0010 says why the key is made so). Must not import Flask.

Countries come from geoip2fast's own data file, shipped in the package (MaxMind GeoLite2
country data): a lookup is a search in memory, nothing goes over the network.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import threading
from collections.abc import Callable, Sequence
from importlib import resources

# The file that holds both IPv4 and IPv6 networks, by its full path: given a bare name,
# geoip2fast would first look for it in the process's working directory.
_DATA_FILE = "geoip2fast-ipv6.dat.gz"
# Distinct client addresses remembered per process; a lookup costs ~20 us anyway.
_CACHE = 65536
VISITOR_HEX = 16  # 64 bits: collisions among a day's visitors are negligible


def _public(address: str) -> str | None:
    """``address`` normalised (IPv4 inside IPv6 unwrapped), or ``None`` when it is not a
    public address that a country could be known for."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if not ip.is_global:  # loopback, private, link-local, reserved, documentation...
        return None
    return str(ip)


class CountryLookup:
    """ISO 3166 alpha-2 country codes of client addresses; the data file is loaded on first
    use (~0.15 s), by whichever thread needs it first."""

    def __init__(self, data_file: str | None = None) -> None:
        self._data_file = data_file
        self._lock = threading.Lock()
        self._finder: Callable[[str], object] | None = None
        self.country = functools.lru_cache(maxsize=_CACHE)(self._country)

    def _load(self) -> Callable[[str], object]:
        with self._lock:
            if self._finder is None:
                from geoip2fast import GeoIP2Fast

                path = self._data_file or str(resources.files("geoip2fast") / _DATA_FILE)
                self._finder = GeoIP2Fast(verbose=False, geoip2fast_data_file=path).lookup
            return self._finder

    def _country(self, address: str) -> str | None:
        """The country of ``address``; ``None`` when unknown (not public, not in the data)."""
        public = _public(address)
        if public is None:
            return None
        found = getattr(self._load()(public), "country_code", "")
        # geoip2fast says '--' for what it cannot place, '' for what it cannot parse.
        return found if isinstance(found, str) and len(found) == 2 and found.isalpha() else None


def visitor_key(salt: bytes, address: str) -> str:
    """The client's key for the day of ``salt``: the same address gives the same key that
    day, and nothing ties it back to the address once the salt is gone."""
    digest = hashlib.sha256(salt + b"\0" + address.encode("utf-8", "replace")).hexdigest()
    return digest[:VISITOR_HEX]


def client_address(peer: str, forwarded_for: str | None, trusted: Sequence[str]) -> str:
    """The client's address: the connection's peer, unless the peer is a trusted proxy, in
    which case the nearest X-Forwarded-For hop that is not itself a trusted proxy (hops
    further out are whatever the client wrote, so they are not believed)."""
    if not trusted or peer not in trusted or not forwarded_for:
        return peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        if hop not in trusted:
            return hop
    return peer
