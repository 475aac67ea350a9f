"""shop: pricing helpers for a small web shop. Prices are integer cents."""
