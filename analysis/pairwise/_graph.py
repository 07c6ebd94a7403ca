"""Connected parts of every group's comparison graph, for a whole batch in one call."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph


def component_labels(adjacency: np.ndarray, *, strong: bool = False) -> np.ndarray:
    """``(G, n)`` labels of the parts of ``(G, n, n)`` graphs (edge ``i -> j`` where true).

    ``strong=False``: parts connected ignoring direction; ``strong=True``: strongly connected
    parts (every member reaches every other along the edges' direction).
    """
    groups, size, _ = adjacency.shape
    group, source, target = np.nonzero(adjacency)
    nodes = groups * size
    graph = sparse.csr_matrix(
        (np.ones(len(group)), (group * size + source, group * size + target)),
        shape=(nodes, nodes),
    )
    _, labels = csgraph.connected_components(
        graph, directed=strong, connection="strong" if strong else "weak"
    )
    return labels.reshape(groups, size)


def part_counts(labels: np.ndarray, involved: np.ndarray) -> np.ndarray:
    """Per group, the number of distinct labels among the ``involved`` stimuli."""
    ordered = np.sort(np.where(involved, labels, -1), axis=1)
    changes = (ordered[:, 1:] != ordered[:, :-1]) & (ordered[:, 1:] >= 0)
    return changes.sum(axis=1) + (ordered[:, 0] >= 0)
