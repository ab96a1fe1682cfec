"""What is in a photo: faces, people, objects, saliency, subjects, lines, horizon, colour, and the words for it.

:class:`~procrop.perception.analyzer.Analyzer` is the one role everyone uses: it loads an image, runs the
detectors and returns a :class:`~procrop.perception.analysis.CompositionAnalysis`.
"""
