"""The networks procrop trains and runs, in two families that do not import each other.

* :mod:`procrop.model.paper`: the paper's network, ProCrop as a set predictor on Conditional DETR
  (backbone, transformer, fusion, heads, losses, inputs, checkpoints, importers, ONNX export and
  :class:`~procrop.model.paper.predictor.NeuralCropper`). Trained by :mod:`procrop.training.paper`
  (``procrop train``); run by ``procrop crop --model CKPT`` and ``procrop eval``.
* :mod:`procrop.model.scorer`: the shipped learned box scorer ``procrop crop`` runs by default
  (:class:`~procrop.model.scorer.boxnet.BoxNet`, its ONNX bundle and the torch-free runtime, the box
  search) and the salient-object head. Trained by :mod:`procrop.training.scorer`.
* :mod:`procrop.model.shared`: what both build on (the ImageNet MobileNetV2, description tokens).

README.md, "Layout, extras, data and licences", draws the whole layout.
"""
