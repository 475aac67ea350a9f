"""Price calculations. All prices are integer cents."""

VAT_RATE_PERCENT = 20


def line_total(price_cents: int, quantity: int) -> int:
    """Return the price of ``quantity`` units. Raises ValueError if ``quantity < 1``."""
    if quantity < 1:
        raise ValueError(f"quantity must be >= 1, got {quantity}")
    return price_cents * quantity


def with_vat(net_cents: int) -> int:
    """Return the gross price including VAT, rounded half up to whole cents."""
    return (net_cents * (100 + VAT_RATE_PERCENT) + 50) // 100
