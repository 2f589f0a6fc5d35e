"""Streaming job: watch landing paths (Avro files, tarballs) into bronze. Usage: bronze_files.py PATH...

Thin entry point: the logic lives in the `siskin` package. Same as `siskin run bronze-files PATH...`.
"""

import sys

from siskin.cli.main import run_process

if __name__ == "__main__":
    run_process(["run", "bronze-files", *sys.argv[1:]])
