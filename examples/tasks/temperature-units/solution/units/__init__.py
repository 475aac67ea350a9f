"""units: unit conversions for a weather dashboard."""

from units.length import km_to_miles, miles_to_km
from units.temperature import celsius_to_fahrenheit, fahrenheit_to_celsius

__all__ = ["celsius_to_fahrenheit", "fahrenheit_to_celsius", "km_to_miles", "miles_to_km"]
