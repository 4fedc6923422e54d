"""The HTTP edge: DALI parameters (case-insensitive names) and error rendering per protocol.

Only this package and the views import Flask (with app.py and server.py).
"""
