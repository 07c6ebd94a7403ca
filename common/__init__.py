"""Small helpers shared by every layer: the site's apps and the Django-free libraries.

Nothing here imports Django or any app, so ``analysis/`` and ``benchmark/training/`` may
use it as freely as ``annotation`` and ``benchmark`` do.
"""
