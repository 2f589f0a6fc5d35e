"""Siskin: an astronomy alert broker built as a streaming Delta lakehouse.

Data flows sources -> bronze -> silver -> gold; see the README for the map.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
