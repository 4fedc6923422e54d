"""DataLink 1.1 ``{links}`` and SODA 1.0 sync cut-outs of light curves (``/datalink``)."""
