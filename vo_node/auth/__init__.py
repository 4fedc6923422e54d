"""Accounts and the distribution policy's Python side (issue 4).

The policy itself lives in the database (migration 0006: row-level security on the products,
keyed on a signed caller ticket). This package holds what the web tier does around it:
accounts and tokens (:mod:`.store`), password hashing (:mod:`.passwords`), the tickets
(:mod:`.tickets`), reading a request's credentials (:mod:`.credentials`) and the HTTP side:
challenges, the login page, the caller of each request (:mod:`.views`).
"""
