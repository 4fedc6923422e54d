"""The time systems of the published numeric time columns (VOTable 1.4 TIMESYS; DALI 1.1).

Where the times come from (docs/corot-files.md, ``ingest/corot/reader.py``): ingest turns the
time column of each light curve into MJD (JD - 2400000.5) in TT. Its reference position is the
file's: barycentric for version 4 N2 and N1 exo files (``DATEBARTT``), heliocentric for
versions 1-3 (``DATEHEL``), the satellite for N1 astero files (``DATETT``); each product row
says which in ``corot.products.time_refpos``. Run starts and ends are UTC clock times, stored
as timestamps and published as MJD too. ISO timestamps (release dates, ingest times) carry
their own calendar and take no TIMESYS. Plain data: imports only the model.
"""

from __future__ import annotations

from tap_schema.model import TimeSystem

MJD_ORIGIN = 2400000.5  # the Julian Date of MJD 0

# A column's TIMESYS states one reference position for every row, and product times mix three
# (see above): UNKNOWN, from the refposition vocabulary, is the only true column-wide value.
# Saying BARYCENTER would misplace heliocentric and satellite times by up to ~8 minutes.
PRODUCT_TIMES = TimeSystem("mjd_tt", "TT", "UNKNOWN", MJD_ORIGIN)

# Run boundaries: UTC at the observer (CoRoT, in low Earth orbit).
RUN_TIMES = TimeSystem("mjd_utc", "UTC", "TOPOCENTER", MJD_ORIGIN)
