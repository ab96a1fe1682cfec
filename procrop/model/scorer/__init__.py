"""The shipped scorer family: the learned box scorer ``procrop crop`` runs, and the salient-object head.

:mod:`.boxnet` (the network, torch), :mod:`.boxnet_export` (the ONNX bundle), :mod:`.runtime` (the
bundle under onnxruntime, no torch), :mod:`.search` (the best box under a score, no torch) and
:mod:`.salient_head`. Their trainers are :mod:`procrop.training.scorer`. It imports nothing from
:mod:`procrop.model.paper`.
"""
