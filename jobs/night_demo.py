"""The main job on the embedded default: a simulated night through Kafka into bronze, silver, gold.

Same as `siskin demo`; see the README's first command.
"""

import sys

from siskin.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
