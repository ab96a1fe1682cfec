"""What both model families build on: the ImageNet MobileNetV2 (:mod:`.mobilenet`) and the
description tokens (:mod:`.tokens`). Imports neither :mod:`procrop.model.paper` nor :mod:`procrop.model.scorer`.
"""
