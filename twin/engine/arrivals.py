"""Random unique product configurations drawn from the catalogue (seeded)."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import TypeAdapter

from twin.model.products import PRODUCT_FAMILIES, ProductSpec
from twin.model.scenario import Arrivals, CatalogueEntry

__all__ = ["ProductSampler", "interarrival"]

_SPEC = TypeAdapter(ProductSpec)


class ProductSampler:
    """Draws a catalogue entry by weight, then its varying parameters."""

    def __init__(
        self, catalogue: list[CatalogueEntry], mix: dict[str, float], rng: np.random.Generator
    ) -> None:
        self.entries = [c for c in catalogue if not mix or c.id in mix]
        weights = np.array([mix.get(c.id, c.weight) if mix else c.weight for c in self.entries])
        self.cum = np.cumsum(weights / weights.sum())
        self.rng = rng
        self.int_fields = {
            c.family: {
                n for n, f in PRODUCT_FAMILIES[c.family].model_fields.items() if f.annotation is int
            }
            for c in self.entries
        }

    def draw(self) -> tuple[str, ProductSpec]:
        rng = self.rng
        i = int(np.searchsorted(self.cum, rng.random(), side="right"))
        entry = self.entries[min(i, len(self.entries) - 1)]
        params: dict[str, Any] = {"type": entry.family, **entry.fixed}
        for name, (lo, hi) in entry.ranges.items():
            if name in self.int_fields[entry.family]:
                params[name] = int(rng.integers(round(lo), round(hi) + 1))
            else:
                params[name] = round(float(rng.uniform(lo, hi)), 3)
        for name, options in entry.choices.items():
            params[name] = options[int(rng.integers(len(options)))]
        return entry.id, _SPEC.validate_python(params)


def interarrival(arr: Arrivals, rng: np.random.Generator) -> float:
    """Seconds to the next arrival."""
    if arr.distribution == "fixed":
        return arr.mean_interarrival
    if arr.distribution == "uniform":
        return float(rng.uniform(0.0, 2.0 * arr.mean_interarrival))
    return float(rng.exponential(arr.mean_interarrival))
