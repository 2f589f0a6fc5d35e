"""Silver: decoded, deduplicated, quality-flagged alerts (`transform` in tasks, `batch` commits)."""
