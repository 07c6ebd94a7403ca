"""Analysis of human ratings of AI-generated images: screening, MOS, subject model, reliability.

A pure library (pandas, numpy, scipy; statsmodels and plotly imported lazily by the modules
that need them) with a command line: ``python -m analysis --help``. The site calls
:func:`analysis.pipeline.run_pipeline`; tables are loaded with :func:`analysis.io.load_ratings`.
"""

from analysis._version import LIBRARY_VERSION

__version__ = LIBRARY_VERSION
