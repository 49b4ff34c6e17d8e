"""Signal processing as Keras layers: ``audio`` (chapters 03-04)."""
