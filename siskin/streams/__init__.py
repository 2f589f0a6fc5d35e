"""Redistributed streams: which alerts go to whom (filters) and how they are sent (distribution)."""
