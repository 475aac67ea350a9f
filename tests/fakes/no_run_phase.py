"""A module that forgets to define run(): the config must be refused with a clear error."""

PHASE = "sdd-broken"
