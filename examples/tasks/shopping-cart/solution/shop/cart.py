"""A shopping cart holding quantities per SKU."""

from shop.pricing import line_total


class Cart:
    """Items to buy, keyed by SKU. Prices are integer cents."""

    def __init__(self) -> None:
        self._prices: dict[str, int] = {}
        self._quantities: dict[str, int] = {}

    def add(self, sku: str, price_cents: int, quantity: int = 1) -> None:
        """Add ``quantity`` units of ``sku``; a repeated SKU keeps its first price.

        Raises ValueError if ``quantity < 1`` or ``price_cents < 0``.
        """
        if quantity < 1:
            raise ValueError(f"quantity must be >= 1, got {quantity}")
        if price_cents < 0:
            raise ValueError(f"price_cents must be >= 0, got {price_cents}")
        self._prices.setdefault(sku, price_cents)
        self._quantities[sku] = self._quantities.get(sku, 0) + quantity

    def total(self) -> int:
        """Return the net total of the cart in cents."""
        return sum(line_total(self._prices[sku], qty) for sku, qty in self._quantities.items())
