"""Database access: the embedded cluster, connections per role, migrations.

Only this package, stores, the ingest loader and ``query.py`` import psycopg.
"""
