"""Leak-free evaluation: subject-wise splits and protocols, run folders that resume fold by fold, fitting where
an executor puts the folds, pooled scores, seeds, comparison tables, final models and prediction.

``mextk evaluate`` is :func:`mextk.evaluate.runner.evaluate_run`; ``mextk train`` is
:func:`mextk.evaluate.final.train_model`; ``mextk predict`` is :func:`mextk.evaluate.predict.predict_clips`.
The metrics themselves are pure functions in :mod:`mextk.models.metrics`.
"""
