"""Infrastructure the graph stands on: providers, the embedded llama.cpp server, checkpoints, the guarded
workspace, the repo map, OpenSpec files, pricing, environment. Imports nothing from ``graph.core`` or above."""
