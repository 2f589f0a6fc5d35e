"""The main job on the embedded default: a simulated night through Kafka into bronze, silver, gold.

Same as `siskin demo`; see the README's first command.
"""

import sys

from siskin.cli.main import run_process

if __name__ == "__main__":
    run_process(["demo", *sys.argv[1:]])
