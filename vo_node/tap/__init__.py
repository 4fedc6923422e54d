"""TAP 1.1: sync and async queries, VOSI tables, capabilities and availability, examples."""
