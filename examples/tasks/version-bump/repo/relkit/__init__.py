"""relkit: small helpers for cutting releases."""
