"""Streaming job: the silver stage of the lake, running until stopped (restart resumes).

Thin entry point: the logic lives in the `siskin` package. Same as `siskin run silver`.
"""

import sys

from siskin.cli.main import run_process

if __name__ == "__main__":
    run_process(["run", "silver", *sys.argv[1:]])
