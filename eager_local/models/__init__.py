"""Model files and where they come from: the registry (models.toml), the user's own
entries (``eager models add/rm``), GGUF checks and metadata, and the cache paths.

Imports the core's errors and settings and ``files`` (reading user-named paths); never the
decode path or a face.
"""
