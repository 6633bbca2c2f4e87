"""Models: the convolutional autoencoder, the tag net, thresholds, TagModel and its checkpoints."""
