"""Acknowledgements of warnings: signed single-use tokens and the stores that remember them."""
