"""The science layer: modules that add per-alert values (flags, cross-matches, scores) to silver alerts."""
