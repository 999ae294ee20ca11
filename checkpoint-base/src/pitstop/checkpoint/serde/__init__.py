"""pitstop."""
