"""vo-node: a Virtual Observatory service node for a space-photometry archive."""

__version__ = "0.1.0"
