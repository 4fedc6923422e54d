"""Published metadata declarations: TAP_SCHEMA, VOSI tables, VOTable fields (issue 3)."""
