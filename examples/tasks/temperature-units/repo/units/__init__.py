"""units: unit conversions for a weather dashboard."""

from units.length import km_to_miles, miles_to_km

__all__ = ["km_to_miles", "miles_to_km"]
