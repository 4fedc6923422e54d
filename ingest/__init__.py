"""Ingest: discover -> read -> check (numbered problems) -> store twice -> register.

Must not import ``ssa`` or ``registry``; meets them only in ``vo_node/app.py``.
"""
