"""Length conversions."""

KM_PER_MILE = 1.609344


def km_to_miles(km: float) -> float:
    """Convert kilometres to miles. Raises ValueError for negative distances."""
    if km < 0:
        raise ValueError(f"distance must be >= 0, got {km}")
    return km / KM_PER_MILE


def miles_to_km(miles: float) -> float:
    """Convert miles to kilometres. Raises ValueError for negative distances."""
    if miles < 0:
        raise ValueError(f"distance must be >= 0, got {miles}")
    return miles * KM_PER_MILE
