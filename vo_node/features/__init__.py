"""Pulsation features of the light curves (issue 8): periodograms, prewhitening, classes.

``model`` (what a result is), ``periodogram`` and ``classes`` (the computation, pure),
``task`` (one light curve, from its stored file: what a process or a dask worker runs),
``store`` (the database side), ``runner`` (a whole archive on an executor, restartable),
``watcher`` (the worker's background computation after each ingest), ``documents`` and
``views`` (the DataLink #derivation documents and the product page's periodogram).
"""
