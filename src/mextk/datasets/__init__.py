"""Dataset loaders (public layouts -> manifest) and paper-style statistics."""
