"""pwcmp's distance prior for Thurstone scaling (``pw_scale``, ``'prior', 'gaussian'``).

For each compared pair ``u`` of a group the prior adds ``-log(prior_u + 0.1)`` to the
negative log-likelihood, where ``prior_u`` is the normalised sum, over all compared pairs
``v`` of the group, of the probability of ``v``'s answers if ``v`` were at ``u``'s distance.
With the answer class ``c = (k, n)`` of ``v`` (``k`` of ``n`` answers for one side; a
unanimous ``n`` of ``n`` enters as ``n-1`` of ``n``) and

    h_c(d) = Phi(d)^k Phi(-d)^(n-k) + Phi(d)^(n-k) Phi(-d)^k     (both orientations),
    S_c = sum_u h_c(d_u),     m_c = number of pairs in class c,

``prior_u = sum_c m_c h_c(d_u) / S_c``. Pairs with the same class share one column, so the
cost is (pairs x classes) per group rather than pairs squared. Terms are scaled by each
class's largest value in its group, so pairs with many answers do not underflow.
"""

from __future__ import annotations

import dataclasses

import numpy as np

PRIOR_OFFSET = 0.1
# Stands in for log(0) of pairs never compared: their terms vanish after exp without the
# NaNs that -inf * 0 would make for an empty class.
LOG_NEVER = -1e300


@dataclasses.dataclass(frozen=True)
class AnswerClasses:
    """Per group, padded to a common width: class ``(low, high)`` counts and multiplicity."""

    low: np.ndarray
    high: np.ndarray
    multiplicity: np.ndarray

    def subset(self, rows: np.ndarray) -> AnswerClasses:
        return AnswerClasses(self.low[rows], self.high[rows], self.multiplicity[rows])


def answer_classes(forward: np.ndarray, backward: np.ndarray) -> AnswerClasses:
    """Classes ``(min(k, n-k), max(k, n-k))`` of every group's compared pairs ``(G, P)``."""
    total = forward + backward
    compared = total > 0
    unanimous = compared & ((forward == 0) | (backward == 0))
    shifted = np.where(unanimous, np.where(forward == 0, 1.0, forward - 1.0), forward)
    low = np.minimum(shifted, total - shifted)
    group, _ = np.nonzero(compared)
    keys = np.stack([group.astype(float), low[compared], total[compared]], axis=1)
    unique, counts = np.unique(keys, axis=0, return_counts=True)
    owner = unique[:, 0].astype(np.int64)
    starts = np.searchsorted(owner, np.arange(forward.shape[0]))
    column = np.arange(len(owner)) - starts[owner]
    width = int(column.max()) + 1 if len(column) else 1
    shape = (forward.shape[0], width)
    out_low, out_total, multiplicity = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    out_low[owner, column] = unique[:, 1]
    out_total[owner, column] = unique[:, 2]
    multiplicity[owner, column] = counts
    return AnswerClasses(out_low, out_total - out_low, multiplicity)


class DistancePrior:
    """The prior term of a set of groups at given pair distances ``d`` (JOD / sigma)."""

    def __init__(
        self,
        classes: AnswerClasses,
        compared: np.ndarray,
        log_win: np.ndarray,
        log_loss: np.ndarray,
    ) -> None:
        self.low, self.high = classes.low[:, None, :], classes.high[:, None, :]
        self.multiplicity = classes.multiplicity
        self.compared = compared
        log_win = np.where(compared, log_win, LOG_NEVER)[:, :, None]
        log_loss = np.where(compared, log_loss, LOG_NEVER)[:, :, None]
        log_a = self.low * log_win + self.high * log_loss
        log_b = self.high * log_win + self.low * log_loss
        peak = np.maximum(log_a.max(axis=1, keepdims=True), log_b.max(axis=1, keepdims=True))
        self.term_a, self.term_b = np.exp(log_a - peak), np.exp(log_b - peak)
        self.norm = np.sum(self.term_a + self.term_b, axis=1, keepdims=True)
        self.shares = (self.term_a + self.term_b) / self.norm
        self.prior = np.einsum("gpc,gc->gp", self.shares, self.multiplicity)
        self.weight = np.where(compared, 1.0 / (self.prior + PRIOR_OFFSET), 0.0)

    def value(self) -> np.ndarray:
        terms = np.where(self.compared, np.log(self.prior + PRIOR_OFFSET), 0.0)
        return -terms.sum(axis=1)

    def derivatives(
        self, distance: np.ndarray, mills_win: np.ndarray, mills_loss: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """First derivative of the term in each pair's distance, and a non-negative curvature:
        the second derivative with the class sums ``S_c`` held fixed, clipped at 0."""
        win, loss = mills_win[:, :, None], mills_loss[:, :, None]
        win_slope = -win * (distance[:, :, None] + win)
        loss_slope = -loss * (loss - distance[:, :, None])
        rate_a = self.low * win - self.high * loss
        rate_b = self.high * win - self.low * loss
        first = (self.term_a * rate_a + self.term_b * rate_b) / self.norm
        second = self.term_a * (rate_a**2 + self.low * win_slope + self.high * loss_slope)
        second += self.term_b * (rate_b**2 + self.high * win_slope + self.low * loss_slope)
        weight = self.weight
        # d prior_u / d d_w = sum_c m_c h'_c(w) (delta_uw - h_c(u) / S_c) / S_c.
        coupled = np.einsum("gp,gpc->gc", weight, self.shares) * self.multiplicity
        own = np.einsum("gpc,gc->gp", first, self.multiplicity)
        cross = np.einsum("gpc,gc->gp", first, coupled)
        own_second = np.einsum("gpc,gc->gp", second / self.norm, self.multiplicity)
        curvature = np.maximum(weight * (weight * own**2 - own_second), 0.0)
        return -(weight * own - cross), curvature
