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

from analysis.pairwise._solver import pair_incidence

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
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Gradient of the term in each pair's distance ``d`` (JOD / sigma), and its exact
        Hessian in the scores: a diagonal part per pair ``(G, P)`` (to go through ``B^T . B``)
        and the part coupled through the class sums, already ``(G, n, n)`` in the scores.

        With shares ``s_c(u) = h_c(u) / S_c``, ``t_c``, ``e_c`` the same for ``h'`` and
        ``h''``, ``r_u = 1 / (prior_u + 0.1)``, ``A_u = sum_c m_c t_c(u)`` and ``gamma_c =
        sum_u r_u s_c(u)``: the gradient is ``-r_w A_w + sum_c m_c gamma_c t_c(w)``; the
        Hessian is ``diag(r^2 A^2 + sum_c m_c (gamma_c - r) e_c)`` plus
        ``sum_c m_c (r_w + r_v - 2 gamma_c) t_c(w) t_c(v)``
        ``- sum_c m_c (r_w^2 A_w s_c(w) t_c(v) + r_v^2 A_v s_c(v) t_c(w))``
        ``+ sum_cc' m_c m_c' Gamma_cc' t_c(w) t_c'(v)``, ``Gamma_cc' = sum_u r_u^2 s_c(u) s_c'(u)``.
        """
        win, loss = mills_win[:, :, None], mills_loss[:, :, None]
        win_slope = -win * (distance[:, :, None] + win)
        loss_slope = -loss * (loss - distance[:, :, None])
        rate_a = self.low * win - self.high * loss
        rate_b = self.high * win - self.low * loss
        first = (self.term_a * rate_a + self.term_b * rate_b) / self.norm
        second = self.term_a * (rate_a**2 + self.low * win_slope + self.high * loss_slope)
        second += self.term_b * (rate_b**2 + self.high * win_slope + self.low * loss_slope)
        second /= self.norm
        weight, multiplicity = self.weight, self.multiplicity
        gamma = np.einsum("gp,gpc->gc", weight, self.shares)
        own = np.einsum("gpc,gc->gp", first, multiplicity)
        slope = -weight * own + np.einsum("gpc,gc->gp", first, gamma * multiplicity)
        diagonal = (weight * own) ** 2 + np.einsum("gpc,gc->gp", second, gamma * multiplicity)
        diagonal -= weight * np.einsum("gpc,gc->gp", second, multiplicity)
        coupled = self._coupled_hessian(first, weight, own, gamma)
        return slope, diagonal, coupled

    def _coupled_hessian(
        self, first: np.ndarray, weight: np.ndarray, own: np.ndarray, gamma: np.ndarray
    ) -> np.ndarray:
        """The Hessian's low-rank part (through the class sums), projected to the scores."""
        pairs = first.shape[1]
        size = int(round((1.0 + np.sqrt(1.0 + 8.0 * pairs)) / 2.0))  # pairs = n (n - 1) / 2
        incidence = pair_incidence(size)
        multiplicity = self.multiplicity[:, None, :]

        def project(per_pair: np.ndarray) -> np.ndarray:  # B^T x: (G, P, C) -> (G, n, C)
            return incidence.T @ per_pair

        spread = project(first)
        weighted = project(weight[:, :, None] * first)
        mixed = project(((weight * own) * weight)[:, :, None] * self.shares)
        squared = (weight**2)[:, :, None] * self.shares
        gram = squared.transpose(0, 2, 1) @ self.shares
        scaled = spread * multiplicity
        hessian = (weighted - mixed) @ scaled.transpose(0, 2, 1)
        hessian = hessian + hessian.transpose(0, 2, 1)
        hessian -= 2.0 * (spread * (multiplicity * gamma[:, None, :])) @ spread.transpose(0, 2, 1)
        hessian += scaled @ gram @ scaled.transpose(0, 2, 1)
        return hessian
