"""mextk: a toolkit for facial micro-expression analysis.

The package is organised by stage (see ``DESIGN.md``): ``io`` (videos and the
sample manifest), ``labels`` (class taxonomies), ``synth`` (synthetic data),
``datasets`` (paper-style statistics), ``features``, ``evaluate`` (metrics,
subject-wise splits, reports).  Heavy libraries are imported lazily inside the
functions that need them, so ``import mextk`` is cheap.
"""

__version__ = "0.1.0"
