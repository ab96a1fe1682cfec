"""Training the paper's network (``procrop train``): training samples (:mod:`.samples`), cached
conditioning (:mod:`.conditioning`), optimiser groups and schedule (:mod:`.optim`), several processes
(:mod:`.distributed`) and the loop (:mod:`.trainer`). It imports nothing from :mod:`procrop.training.scorer`
nor :mod:`procrop.model.scorer`.
"""
