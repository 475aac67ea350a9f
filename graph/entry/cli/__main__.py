"""`python -m sdd_harness.graph.entry.cli` runs `sdd`."""

from sdd_harness.graph.entry.cli import main

main()
