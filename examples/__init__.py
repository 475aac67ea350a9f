"""Examples shipped inside the package: the demo repository and request (`sdd demo`) and the eval tasks."""
