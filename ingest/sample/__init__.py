"""CoRoT-like sample data: FITS products, N1 alert deliveries and truth.csv, as docs/corot-files.md
describes them, deterministic in a seed. Must not import the database, ingest pipeline or CLI.

    from ingest.sample import SampleSpec, generate, planned_files
    report = generate(SampleSpec(out_dir=Path("var/sample"), stars=1000))
"""

from ingest.sample.generator import generate, planned_files
from ingest.sample.spec import SampleReport, SampleSpec

__all__ = ["SampleReport", "SampleSpec", "generate", "planned_files"]
