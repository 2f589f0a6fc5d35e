"""Gold: per-object state folded from silver (`objects` aggregates, `batch` merges)."""
