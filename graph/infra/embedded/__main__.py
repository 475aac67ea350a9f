"""`python -m sdd_harness.graph.infra.embedded serve|prepare ...`."""

import sys

from sdd_harness.graph.infra.embedded.serve import main

if __name__ == "__main__":
    sys.exit(main())
