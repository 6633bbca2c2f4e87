"""Training: every fit of a TagModel (first fit, epochs, the wide path, the update's fits)."""
