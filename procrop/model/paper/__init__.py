"""The paper's network: ProCrop, a set predictor on Conditional DETR (torch).

Backbones (:mod:`.backbone`), the transformer (:mod:`.transformer`), reference and text fusion
(:mod:`.fusion`), the network (:mod:`.network`), its losses (:mod:`.losses`), inputs (:mod:`.inputs`),
configuration (:mod:`.config`), checkpoints (:mod:`.checkpoint`), foreign checkpoints
(:mod:`.importers`), ONNX export (:mod:`.export`) and the predictor on photos (:mod:`.predictor`).
Its trainer is :mod:`procrop.training.paper`. It imports nothing from :mod:`procrop.model.scorer`.
"""
