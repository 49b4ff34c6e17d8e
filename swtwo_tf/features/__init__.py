"""Features for the models: ``audio`` (chapters 03-04), signal processing as Keras layers;
``text`` (chapter 05), word vectors learned from unlabelled reviews."""
