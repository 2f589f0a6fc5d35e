"""Development tools: local stand-ins for a cluster's services (a Spark standalone cluster, an S3 store)."""
