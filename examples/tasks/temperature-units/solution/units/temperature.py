"""Temperature conversions."""

ABSOLUTE_ZERO_C = -273.15
ABSOLUTE_ZERO_F = -459.67


def celsius_to_fahrenheit(celsius: float) -> float:
    """Convert Celsius to Fahrenheit. Raises ValueError below absolute zero."""
    if celsius < ABSOLUTE_ZERO_C:
        raise ValueError(f"{celsius} °C is below absolute zero")
    return celsius * 9 / 5 + 32


def fahrenheit_to_celsius(fahrenheit: float) -> float:
    """Convert Fahrenheit to Celsius. Raises ValueError below absolute zero."""
    if fahrenheit < ABSOLUTE_ZERO_F:
        raise ValueError(f"{fahrenheit} °F is below absolute zero")
    return (fahrenheit - 32) * 5 / 9
