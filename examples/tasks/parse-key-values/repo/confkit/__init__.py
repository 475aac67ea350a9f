"""confkit: parse settings from environment variables and command-line strings."""
