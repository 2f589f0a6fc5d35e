"""Streaming job: the distribution stage (silver -> one gold table and one Kafka topic per filter).

Thin entry point: the logic lives in the `siskin` package. Same as `siskin run distribute`.
"""

import sys

from siskin.cli.main import run_process

if __name__ == "__main__":
    run_process(["run", "distribute", *sys.argv[1:]])
