"""Filters: named, versioned boolean masks over silver alert columns, one filtered stream each."""
