"""VOResource records and the OAI-PMH publishing registry (issue 6)."""
