"""Authentication from the outside: Basic, bearer tokens and the login cookie; 401 challenges
in each protocol's form; anonymous VOSI; the securityMethods of the capabilities; the cache
that spares pyvo an argon2 check per call; disabled accounts and revoked tokens."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
import requests
from conftest import Node
from lxml import etree

from vo_node.auth import credentials, store
from vo_node.auth.credentials import Authenticator, BadCredentials, parse_authorization
from vo_node.auth.passwords import hash_password
from vo_node.auth.tickets import Tickets

PASSWORD = "a long enough secret"
COUNT = {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": "SELECT COUNT(*) AS n FROM corot.products"}


@pytest.fixture
def accounts(served: tuple[Node, str]) -> Iterator[tuple[Node, str, str]]:
    """User 'ada' (Co-Investigator, with a password and a token) on the served sample, with
    one run unreleased so that her rights show."""
    node, base = served
    with node.db.admin() as conn:
        conn.execute(
            "UPDATE archive.runs SET release_date = %s"
            " WHERE code = (SELECT min(code) FROM archive.runs)",
            (date.today() + timedelta(days=10),),
        )
        store.create_user(conn, "ada", password_hash=hash_password(PASSWORD))
        store.add_member(conn, "ada", "coi")
        token = store.create_token(conn, "ada", label="test")
    yield node, base, token


def _count(resp: requests.Response) -> int:
    assert resp.status_code == 200, resp.text[:300]
    marker = b"<TD>"
    if marker in resp.content:  # TABLEDATA
        return int(resp.content.split(marker)[1].split(b"<")[0])
    raise AssertionError("no TABLEDATA cell")


def _tap_count(base: str, **kwargs: object) -> int:
    resp = requests.post(
        base + "/tap/sync",
        data={**COUNT, "RESPONSEFORMAT": "votable/td"},
        timeout=30,
        **kwargs,  # type: ignore[arg-type]
    )
    return _count(resp)


def _challenges(resp: requests.Response) -> list[str]:
    return list(resp.raw.headers.getlist("WWW-Authenticate"))


def test_each_kind_of_credentials_sees_more_than_anonymous(
    accounts: tuple[Node, str, str],
) -> None:
    _, base, token = accounts
    anonymous = _tap_count(base)
    basic = _tap_count(base, auth=("ada", PASSWORD))
    bearer = _tap_count(base, headers={"Authorization": f"Bearer {token}"})
    session = requests.Session()
    login = session.post(
        base + "/login", data={"username": "ada", "password": PASSWORD}, allow_redirects=False
    )
    assert login.status_code == 303 and login.headers["Location"] == "/"
    cookie = session.cookies.get_dict()
    assert set(cookie) == {"vo_node_session"}
    set_cookie = login.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    with_cookie = _tap_count(base, cookies=cookie)
    assert anonymous < basic == bearer == with_cookie
    assert session.get(base + "/whoami").json() == {"user": "ada", "groups": ["coi"]}
    session.post(base + "/logout")
    assert session.get(base + "/whoami").json() == {"user": None, "groups": []}
    # A copy of the cookie kept from before the logout is void too (it is signed, not
    # stored: logging out voids it in the account).
    assert _tap_count(base, cookies=cookie) == anonymous
    assert requests.get(base + "/whoami", cookies=cookie).json()["user"] is None


def test_bad_credentials_get_401_with_challenges_in_the_protocol_form(
    accounts: tuple[Node, str, str],
) -> None:
    _, base, _ = accounts
    cases = {
        "wrong password": {"auth": ("ada", "not her password")},
        "unknown user": {"auth": ("nobody", PASSWORD)},
        "bad token": {"headers": {"Authorization": "Bearer vont_0000_nope"}},
        "malformed basic": {"headers": {"Authorization": "Basic ###"}},
        "NUL in basic": {
            "headers": {"Authorization": "Basic " + base64.b64encode(b"a\0b:x").decode()}
        },
        "unknown scheme": {"headers": {"Authorization": "Digest username=ada"}},
    }
    for name, kwargs in cases.items():
        resp = requests.post(base + "/tap/sync", data=COUNT, timeout=30, **kwargs)  # type: ignore[arg-type]
        assert resp.status_code == 401, name
        assert resp.headers["Content-Type"].startswith("application/x-votable+xml"), name
        assert b'name="QUERY_STATUS" value="ERROR"' in resp.content, name
        challenges = _challenges(resp)
        assert [c.split()[0] for c in challenges] == ["Basic", "Bearer", "ivoa_cookie"], name
        assert f'access_url="{base}/login"' in challenges[2]
        if name == "bad token":
            assert 'error="invalid_token"' in challenges[1]
    # Outside TAP, the same refusal in plain text.
    resp = requests.get(base + "/whoami", auth=("ada", "wrong"), timeout=30)
    assert resp.status_code == 401 and resp.headers["Content-Type"].startswith("text/plain")
    assert "wrong user name or password" in resp.text


def test_vosi_stays_anonymous_and_lists_security_methods(accounts: tuple[Node, str, str]) -> None:
    _, base, _ = accounts
    for path in ("/tap/capabilities", "/tap/availability"):
        resp = requests.get(base + path, auth=("ada", "wrong"), timeout=30)
        assert resp.status_code == 200, path
    caps = etree.fromstring(requests.get(base + "/tap/capabilities", timeout=30).content)
    for cap in caps.findall("capability"):
        methods = [m.get("standardID") for m in cap.findall("interface/securityMethod")]
        if cap.get("standardID") == "ivo://ivoa.net/std/TAP":
            # An anonymous interface (none) and one per accepted SSO method.
            assert methods == list(credentials.SECURITY_METHODS)
            assert len(cap.findall("interface")) == 1 + len(methods)
        else:
            assert methods == [], cap.get("standardID")  # VOSI: anonymous only


def test_revoked_tokens_and_disabled_users_lose_their_rights(
    accounts: tuple[Node, str, str],
) -> None:
    node, base, token = accounts
    anonymous = _tap_count(base)
    assert _tap_count(base, auth=("ada", PASSWORD)) > anonymous  # now cached by the server
    with node.db.admin() as conn:
        store.revoke_token(conn, token.split("_")[1])
        store.set_disabled(conn, "ada", True)
    resp = requests.post(
        base + "/tap/sync", data=COUNT, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert resp.status_code == 401
    # Basic credentials verified a moment ago are in the server's cache, keyed on the stored
    # hash, which a disabled account no longer has: refused at once, not served.
    resp = requests.post(
        base + "/tap/sync",
        data={**COUNT, "RESPONSEFORMAT": "votable/td"},
        auth=("ada", PASSWORD),
        timeout=30,
    )
    assert resp.status_code == 401


def test_login_page(accounts: tuple[Node, str, str]) -> None:
    _, base, _ = accounts
    page = requests.get(base + "/login", timeout=30)
    assert page.status_code == 200 and 'name="password"' in page.text
    wrong = requests.post(
        base + "/login",
        data={"username": "ada", "password": "nope"},
        headers={"Accept": "text/html"},
        timeout=30,
    )
    assert wrong.status_code == 401 and "wrong user name or password" in wrong.text
    assert wrong.headers["Content-Type"].startswith("text/html")
    assert "vo_node_session" not in wrong.cookies
    # A login form posted from another site is refused (login CSRF); a NUL is just wrong.
    foreign = requests.post(
        base + "/login",
        data={"username": "ada", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
        timeout=30,
    )
    assert foreign.status_code == 403 and "vo_node_session" not in foreign.cookies
    nul = requests.post(base + "/login", data={"username": "a\0b", "password": "x"}, timeout=30)
    assert nul.status_code == 401
    for target, expected in (
        ("/tap/tables", "/tap/tables"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
    ):
        resp = requests.post(
            base + "/login",
            data={"username": "ada", "password": PASSWORD, "next": target},
            allow_redirects=False,
            timeout=30,
        )
        assert resp.status_code == 303 and resp.headers["Location"] == expected


def test_basic_credentials_are_hashed_once_per_cache_period(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    from psycopg_pool import ConnectionPool

    with node.db.admin() as conn:
        store.create_user(conn, "bob", password_hash=hash_password(PASSWORD))
    checks: list[str] = []
    real = credentials.check_password

    def counting(stored: str | None, password: str) -> bool:
        checks.append(password)
        return real(stored, password)

    monkeypatch.setattr(credentials, "check_password", counting)
    with ConnectionPool(node.db.service_conninfo(), min_size=1, max_size=1) as pool:
        auth = Authenticator(pool)
        header = "Basic " + base64.b64encode(f"bob:{PASSWORD}".encode()).decode()
        for _ in range(20):
            assert auth.header(header) == "bob"
        assert len(checks) == 1
        for _ in range(3):  # a wrong password is checked every time, never remembered
            with pytest.raises(BadCredentials):
                auth.password("bob", "wrong password")
        assert len(checks) == 4
        auth.cache.ttl = 0  # an expired entry is checked again
        auth.cache.forget_all()
        assert auth.password("bob", PASSWORD) == "bob"
        assert len(checks) == 5
        auth.cache.ttl = 0  # entries now expire at once: every call is checked
        auth.password("bob", PASSWORD)
        auth.password("bob", PASSWORD)
        assert len(checks) == 7
        auth.cache.ttl = 60
        auth.password("bob", PASSWORD)
        with node.db.admin() as conn:  # a new password: the old one misses the cache at once
            store.set_password(conn, "bob", hash_password("another password"))
        with pytest.raises(BadCredentials):
            auth.password("bob", PASSWORD)
        with node.db.admin() as conn:
            store.set_disabled(conn, "bob", True)
        with pytest.raises(BadCredentials):
            auth.password("bob", "another password")


def test_authorization_headers_and_tickets() -> None:
    assert parse_authorization("Basic " + base64.b64encode(b"u:p:q").decode()) == (
        "basic",
        "u",
        "p:q",
    )
    assert parse_authorization("bearer abc") == ("bearer", "", "abc")
    nul = "Basic " + base64.b64encode(b"a\0:b").decode()
    for bad in (
        "Basic",
        "Basic !!!",
        "Basic " + base64.b64encode(b"nocolon").decode(),
        "X y",
        nul,
        "Bearer vont_\0_x",  # (an HTTP server refuses a NUL in a header before this)
    ):
        with pytest.raises(BadCredentials):
            parse_authorization(bad)
    tickets = Tickets(b"k" * 32)
    ticket = tickets.issue("ada", 1234)
    assert tickets.valid(ticket) == "ada"
    assert tickets.issue(None, 1) == "" and tickets.issue("", 1) == ""
    assert tickets.valid(ticket.replace(":1234:", ":1235:")) is None
    assert Tickets(b"other").valid(ticket) is None
    assert tickets.valid(tickets.issue("ada", 1, now=0)) is None
    with pytest.raises(ValueError):
        tickets.issue("a:b", 1)


def test_a_new_password_voids_login_cookies(accounts: tuple[Node, str, str]) -> None:
    node, base, _ = accounts
    session = requests.Session()
    session.post(base + "/login", data={"username": "ada", "password": PASSWORD}, timeout=30)
    assert session.get(base + "/whoami", timeout=30).json()["user"] == "ada"
    with node.db.admin() as conn:
        store.set_password(conn, "ada", hash_password("a new long password"))
    assert session.get(base + "/whoami", timeout=30).json()["user"] is None
