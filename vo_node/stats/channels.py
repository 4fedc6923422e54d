"""The channel of a request: which of the node's interfaces its path belongs to.

Channels are the interfaces an operator reports on; a path outside them (the health check,
static files, the login page, the statistics themselves) is not recorded at all.
Must not import Flask.
"""

from __future__ import annotations

CHANNELS = ("web", "runs", "tap", "ssa", "datalink", "products", "oai", "feed")

# (path prefix, channel): a prefix matches itself and what follows it after '/' or '.'
# ('/feed' covers '/feed.rss' and '/feed/atom', not '/feedback').
_PREFIXES = (
    ("/search", "web"),
    ("/download", "web"),
    ("/runs", "runs"),
    ("/tap", "tap"),
    ("/ssa", "ssa"),
    ("/datalink", "datalink"),
    ("/products", "products"),
    ("/oai", "oai"),
    ("/feed", "feed"),
)


def channel_of(path: str) -> str | None:
    """The channel of a request for ``path``; ``None`` for a path that is not recorded."""
    if path == "/":
        return "web"  # the landing page: the web interface's front door
    if path.endswith(("/thumbnail.png", "/plot.json")):
        # Parts of a page already counted (a results page asks for up to 200 thumbnails;
        # a product page's plot for its windows): counted, they would swamp the requests.
        return None
    for prefix, channel in _PREFIXES:
        if path == prefix or (path.startswith(prefix) and path[len(prefix)] in "/."):
            return channel
    return None
