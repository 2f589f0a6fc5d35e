"""Streaming job: watch landing paths (Avro files, tarballs) into bronze. Usage: bronze_files.py PATH...

Thin entry point: the logic lives in the `siskin` package. Same as `siskin run bronze-files PATH...`.
"""

import sys

from siskin.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["run", "bronze-files", *sys.argv[1:]]))
