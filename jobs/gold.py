"""Streaming job: the gold stage of the lake, running until stopped (restart resumes).

Thin entry point: the logic lives in the `siskin` package. Same as `siskin run gold`.
"""

import sys

from siskin.cli.main import run_process

if __name__ == "__main__":
    run_process(["run", "gold", *sys.argv[1:]])
