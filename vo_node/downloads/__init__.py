"""Downloads of many products at once: a selection (``POST /download``) as one archive
streamed on the fly, and complete runs (``/runs``) as archives cached on disk and served with
HTTP ranges.

:mod:`archive` streams tar and zip archives of stored files with a manifest, in bounded
memory (no Flask, no database); :mod:`catalogue` reads what a caller may download (under the
policy); :mod:`runcache` keeps the complete-run archives; :mod:`views` is the HTTP side.
"""
