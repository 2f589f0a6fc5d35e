"""Streaming job: the gold stage of the lake, running until stopped (restart resumes).

Thin entry point: the logic lives in the `siskin` package. Same as `siskin run gold`.
"""

import sys

from siskin.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["run", "gold", *sys.argv[1:]]))
