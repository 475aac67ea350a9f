"""The core graph: config, models, state, the phase runtime and the builder. Imports only ``graph.infra``."""
