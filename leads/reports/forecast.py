"""The arithmetic of a forecast from calibrated probabilities.

The number of open leads that convert is a sum of independent Bernoulli variables with the
model's calibrated probabilities p_i (a Poisson-binomial variable): its mean is sum(p_i) and its
variance sum(p_i (1 - p_i)). Revenue with value v_i per lead has mean sum(v_i p_i) and variance
sum(v_i^2 p_i (1 - p_i)). With more than a handful of leads the normal approximation gives the
interval; it is clipped to what is possible (0 to the number of leads).
"""

import math
from dataclasses import dataclass

# Two-sided 90 % interval of the normal distribution.
Z_90 = 1.6448536269514722


@dataclass(frozen=True)
class Estimate:
    expected: float
    variance: float
    low: float
    high: float


def estimate(expected: float, variance: float, *, upper: float | None = None) -> Estimate:
    """The expected value and its 90 % interval, clipped to [0, upper]."""
    spread = Z_90 * math.sqrt(max(variance, 0.0))
    high = expected + spread
    return Estimate(
        expected=expected,
        variance=variance,
        low=max(0.0, expected - spread),
        high=min(upper, high) if upper is not None else high,
    )


@dataclass
class Sums:
    """Running sums over leads for a forecast: how many, how many have a probability, the
    Poisson-binomial moments, and the revenue moments over the leads whose value is known."""

    leads: int = 0
    scored: int = 0
    p: float = 0.0  # sum of p
    pq: float = 0.0  # sum of p (1 - p)
    valued: int = 0  # scored leads whose value is known
    vp: float = 0.0  # sum of v p
    vvpq: float = 0.0  # sum of v^2 p (1 - p)

    def add_group(self, *, leads: int, scored: int, p: float, pq: float, value: float | None) -> None:
        """Add a group of leads that share one value per conversion (a channel's)."""
        self.leads += leads
        self.scored += scored
        self.p += p
        self.pq += pq
        if value is not None:
            self.valued += scored
            self.vp += value * p
            self.vvpq += value * value * pq

    def conversions(self) -> Estimate:
        return estimate(self.p, self.pq, upper=float(self.scored))

    def revenue(self) -> Estimate | None:
        return estimate(self.vp, self.vvpq) if self.valued else None
