"""Usage statistics (issue 7): every access to a service recorded without slowing it, and the
administrators' reports of them.

- ``channels``: which interface a request path belongs to;
- ``counting``: a WSGI body that counts the bytes that went out;
- ``clients``: what is kept of a client (a country, a daily visitor key), never its address;
- ``recorder``: the in-memory queue and the background thread that writes it in batches;
- ``store``: the SQL, writing and reporting;
- ``period``, ``export``, ``plots``: date ranges, CSV and PNG of the reports;
- ``views``: the hook on every request and the ``/stats`` pages (the only Flask here).
"""
