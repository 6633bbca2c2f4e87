"""Models: the convolutional autoencoder, the tagger, thresholds, and TagModel checkpoints."""
