"""Entry points: the `sdd` CLI, the script API, the Studio factory, `sdd eval` and the one-shot baseline."""
