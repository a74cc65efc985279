"""Models: scikit-learn estimators for classical baselines, ``nn.Module``s for deep ones."""
