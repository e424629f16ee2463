"""Modal screens: help and the file dialog."""
