"""Bronze: alert payloads exactly as received (`transform` runs in Spark tasks, `batch` commits)."""
