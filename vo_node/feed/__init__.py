"""The node's feed of new and updated data (Atom 1.0 and RSS 2.0): an entry per ingest batch
and per release of a run's products, read under the distribution policy.

``entries`` reads them from the database, ``documents`` writes the two formats, ``views``
serves them.
"""
