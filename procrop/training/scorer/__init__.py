"""Training the shipped scorers.

* the learned box scorer: box sets (:mod:`.boxsets`), training (:mod:`.boxtrain`), fine-tuning
  (:mod:`.finetune`), ``procrop learned``;
* on editors' rankings (``procrop prefs``): the box scorer with a preference objective
  (:mod:`.preftrain`), the preference scorer (:mod:`.preffit`, :mod:`.prefcanvas`) and the classic
  scorer's weights (:mod:`.prefweights`);
* the salient-object head (:mod:`.saliency`, :mod:`.saliency_data`).

It imports nothing from :mod:`procrop.training.paper` nor, directly, :mod:`procrop.model.paper`.
"""
