"""Training: fit a TagModel (autoencoder pretraining, tagger with early stopping, thresholds)."""
