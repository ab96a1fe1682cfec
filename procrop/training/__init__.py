"""Training, in the same two families as :mod:`procrop.model`, which do not import each other.

* :mod:`procrop.training.paper`: ``procrop train``, the paper's network on benchmarks or weak labels.
* :mod:`procrop.training.scorer`: the shipped scorers: the learned box scorer (``procrop learned``),
  the preference scorer and the classic weights (``procrop prefs``), the salient-object head.
* :mod:`procrop.training.shared`: what both use (stopping on a signal, keeping a run's progress).
"""
