"""Figure builders: matplotlib in :mod:`.figures`, plotly in :mod:`.interactive` (both imported lazily)."""
