"""What the web-search tests read of a search page (tests/test_web_search.py,
tests/test_features_web.py): result ids, each row's variability class, the pager's links,
the thumbnails, the ADQL shown, the field errors; and the product ids a search's ADQL gives
through TAP, to compare with the page."""

from __future__ import annotations

import io
from html.parser import HTMLParser

import requests
from astropy.io.votable import parse


class SearchPage(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[int] = []  # the checkboxes' values
        self.classes: list[str] = []  # each row's variability class cell
        self.links: dict[str, str] = {}  # 'next', 'prev'
        self.adql = ""
        self.thumbnails: list[str] = []
        self.field_errors: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "input" and a.get("name") == "id":
            self.ids.append(int(str(a["value"])))
        elif tag == "td" and a.get("class") == "var-class":
            self._in = "class"
            self.classes.append("")
        elif tag == "a" and a.get("rel") in ("next", "prev"):
            self.links[str(a["rel"])] = str(a["href"])
        elif tag == "pre" and a.get("id") == "adql":
            self._in = "adql"
        elif tag == "img" and "thumb" in (a.get("class") or ""):
            self.thumbnails.append(str(a["src"]))
        elif tag == "span" and a.get("class") == "field-error":
            self._in = "error"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("pre", "span", "td"):
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "adql":
            self.adql += data
        elif self._in == "class":
            self.classes[-1] += data.strip()
        elif self._in == "error":
            self.field_errors.append(data)


def search_page(session: requests.Session, url: str, status: int = 200) -> SearchPage:
    """GET the page at ``url``, expecting ``status`` and HTML."""
    resp = session.get(url, timeout=60)
    assert resp.status_code == status, resp.text[:500]
    assert resp.headers["Content-Type"].startswith("text/html")
    page = SearchPage()
    page.feed(resp.text)
    return page


def tap_ids(session: requests.Session, base: str, adql: str) -> list[int]:
    """The product_id column, in order, of ``adql`` run by the node's TAP service as the
    caller of ``session`` (the VOTable read strictly)."""
    resp = session.post(
        f"{base}/tap/sync",
        data={"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": adql, "MAXREC": "100000"},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text[:300]
    table = parse(io.BytesIO(resp.content), verify="exception").get_first_table().to_table()
    return [int(v) for v in table["product_id"]]
