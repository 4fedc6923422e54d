"""DALI 1.1 examples (section 2.3) for the TAP service: XHTML with RDFa, one block per example.

The queries are useful ones for this archive; the tests run every one of them through the
service, so an example that stops working fails the build.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

XHTML = "http://www.w3.org/1999/xhtml"
VOCAB = "http://www.ivoa.net/rdf/examples#"


@dataclass(frozen=True)
class Example:
    key: str
    name: str
    description: str
    query: str


EXAMPLES: tuple[Example, ...] = (
    Example(
        "cone",
        "Light curves around a position",
        "Every light-curve product within 0.2 degrees of a position, nearest first.",
        "SELECT product_id, corotid, run_code, product_type, version,\n"
        "       DISTANCE(pos, POINT('ICRS', 102.5, -0.5)) AS dist\n"
        "FROM corot.products\n"
        "WHERE DISTANCE(pos, POINT('ICRS', 102.5, -0.5)) < 0.2\n"
        "ORDER BY dist",
    ),
    Example(
        "run",
        "The latest light curves of a run",
        "The newest version of every product of the run LRa01, with its sampling.",
        "SELECT corotid, product_type, version, n_points, sampling_min, access_url\n"
        "FROM corot.products\n"
        "WHERE run_code = 'LRa01' AND latest = 1\n"
        "ORDER BY corotid",
    ),
    Example(
        "bright-long",
        "Bright stars with many points",
        "N2 light curves of stars brighter than R = 12 with more than 1000 good points.",
        "SELECT TOP 100 corotid, run_code, mag_r, n_good, t_max - t_min AS span_days\n"
        "FROM corot.products\n"
        "WHERE proc_level = 'N2' AND mag_r < 12 AND n_good > 1000\n"
        "ORDER BY n_good DESC",
    ),
    Example(
        "versions",
        "Every version of one star's light curves",
        "All product versions of one star, oldest first: versions are kept side by side.",
        "SELECT p.run_code, p.product_type, p.version, p.latest, p.file_name\n"
        "FROM corot.products AS p\n"
        "WHERE p.corotid IN (SELECT TOP 1 corotid FROM corot.stars ORDER BY corotid)\n"
        "ORDER BY p.run_code, p.product_type, p.version",
    ),
    Example(
        "oversampled",
        "Stars switched to 32 s sampling",
        "Exoplanet-channel light curves with both 512 s and 32 s points (alert mode).",
        "SELECT corotid, run_code, product_type, sampling_min, sampling_max\n"
        "FROM corot.products\n"
        "WHERE channel = 'exo' AND sampling_min = 32 AND sampling_max = 512",
    ),
    Example(
        "per-run",
        "Products per run and channel",
        "How many stars and light curves each run holds, per channel.",
        "SELECT run_code, channel, COUNT(*) AS products, COUNT(DISTINCT corotid) AS stars\n"
        "FROM corot.products\n"
        "GROUP BY run_code, channel\n"
        "ORDER BY run_code, channel",
    ),
    Example(
        "spectral",
        "Stars of one spectral class",
        "G dwarfs of the input catalogue with their V magnitude.",
        "SELECT corotid, spectral_type, lum_class, mag_v\n"
        "FROM corot.stars\n"
        "WHERE spectral_type LIKE 'G%' AND lum_class = 'V'\n"
        "ORDER BY mag_v",
    ),
    Example(
        "box",
        "Stars in a box on the sky",
        "Stars inside a 1 x 1 degree box, with their runs.",
        "SELECT s.corotid, s.ra, s.dec, p.run_code\n"
        "FROM corot.stars AS s JOIN corot.products AS p ON p.corotid = s.corotid\n"
        "WHERE 1 = CONTAINS(s.pos, BOX('ICRS', 102.5, 0.0, 1.0, 1.0)) AND p.latest = 1",
    ),
    Example(
        "obscore",
        "ObsCore: light curves in a time window",
        "ObsCore discovery: time series overlapping a time window (MJD), with DataLink access.",
        "SELECT obs_id, target_name, s_ra, s_dec, t_min, t_max, access_url, access_format\n"
        "FROM ivoa.obscore\n"
        "WHERE dataproduct_type = 'timeseries' AND t_min < 54410 AND t_max > 54400",
    ),
    Example(
        "runs",
        "The runs of the mission",
        "Runs with their pointings and dates.",
        "SELECT run_code, eye, kind, start_time, end_time, ra, dec\n"
        "FROM corot.runs\n"
        "ORDER BY start_time",
    ),
    Example(
        "crossmatch",
        "Crossmatch with your own list",
        "Upload a VOTable with columns ra and dec as TAP_UPLOAD.mine; each of your positions "
        "gets the light curves within 10 arcseconds.",
        "SELECT m.*, p.corotid, p.product_type, p.access_url\n"
        "FROM TAP_UPLOAD.mine AS m\n"
        "JOIN corot.products AS p\n"
        "  ON DISTANCE(p.pos, POINT('ICRS', m.ra, m.dec)) < 10.0 / 3600\n"
        "WHERE p.latest = 1",
    ),
    Example(
        "pulsators",
        "Pulsators by frequency",
        "The latest light curves of stars pulsating with a signal frequency between 5 and 10 "
        "cycles per day at more than 1 mmag (any of the frequencies found, not only the "
        "dominant one), brightest first.",
        "SELECT p.product_id, p.corotid, p.run_code, p.mag_v, q.frequency, q.amplitude,\n"
        "       q.snr, f.var_class, p.access_url\n"
        "FROM corot.frequencies AS q\n"
        "JOIN corot.features AS f ON f.product_id = q.product_id\n"
        "JOIN corot.products AS p ON p.product_id = q.product_id\n"
        "WHERE q.kind = 'signal' AND q.frequency BETWEEN 5 AND 10 AND q.amplitude > 1\n"
        "  AND p.latest = 1\n"
        "ORDER BY p.mag_v",
    ),
    Example(
        "classes",
        "Variability classes",
        "How many light curves of each channel fall in each variability class, with the "
        "mean of their dominant periods.",
        "SELECT p.channel, f.var_class, COUNT(*) AS light_curves,\n"
        "       AVG(f.dominant_period) AS mean_period\n"
        "FROM corot.features AS f\n"
        "JOIN corot.products AS p ON p.product_id = f.product_id\n"
        "GROUP BY p.channel, f.var_class\n"
        "ORDER BY p.channel, f.var_class",
    ),
    Example(
        "columns",
        "What the tables hold",
        "TAP_SCHEMA describes every published column, with its unit and UCD.",
        "SELECT table_name, column_name, unit, ucd, description\n"
        "FROM TAP_SCHEMA.columns\n"
        "WHERE table_name LIKE 'corot.%'\n"
        "ORDER BY table_name, column_index",
    ),
)


def examples_document(service_url: str) -> bytes:
    """The XHTML+RDFa document served at ``/tap/examples``."""
    root = etree.Element(f"{{{XHTML}}}html", nsmap={None: XHTML})
    head = etree.SubElement(root, f"{{{XHTML}}}head")
    etree.SubElement(head, f"{{{XHTML}}}title").text = "Example queries"
    body = etree.SubElement(root, f"{{{XHTML}}}body", vocab=VOCAB)
    etree.SubElement(body, f"{{{XHTML}}}h1").text = "Example queries"
    intro = etree.SubElement(body, f"{{{XHTML}}}p")
    intro.text = f"ADQL queries for the TAP service at {service_url}; each runs as shown."
    for example in EXAMPLES:
        block = etree.SubElement(
            body, f"{{{XHTML}}}div", id=example.key, resource=f"#{example.key}", typeof="example"
        )
        etree.SubElement(block, f"{{{XHTML}}}h2", property="name").text = example.name
        etree.SubElement(block, f"{{{XHTML}}}p").text = example.description
        etree.SubElement(block, f"{{{XHTML}}}pre", property="query").text = example.query
    return bytes(
        etree.tostring(root, xml_declaration=True, encoding="UTF-8", doctype="<!DOCTYPE html>")
    )
