"""Cross-match of alert positions with reference catalogs loaded into the lake as Delta tables."""
