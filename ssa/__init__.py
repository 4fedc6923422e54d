"""SSA 1.1 queryData for light curves (issue 5)."""
