"""jobtag: tag job postings with a semi-supervised convolutional model that keeps learning."""

__version__ = "0.1.0"
