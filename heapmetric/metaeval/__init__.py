"""Meta-evaluation: how well a judge's scores agree with human judgements.

- :mod:`heapmetric.metaeval.data`: the records to evaluate on (built folder or converted on the fly);
- :mod:`heapmetric.metaeval.harness`: :func:`~heapmetric.metaeval.harness.meta_evaluate`, correlations at
  segment / item / system level, pairwise accuracy, bootstrap intervals, significance tests;
- :mod:`heapmetric.report.metaeval`: markdown, JSON, CSV and PNG reports.

The statistics themselves are pure functions in :mod:`heapmetric.stats`.
"""
