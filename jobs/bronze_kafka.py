"""Streaming job: the bronze-kafka stage of the lake, running until stopped (restart resumes).

Thin entry point: the logic lives in the `siskin` package. Same as `siskin run bronze-kafka`.
"""

import sys

from siskin.cli.main import run_process

if __name__ == "__main__":
    run_process(["run", "bronze-kafka", *sys.argv[1:]])
