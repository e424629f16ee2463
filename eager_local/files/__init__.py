"""File formats on disk: run files (``--json``, saved runs), reading user-named paths
safely, and the exports (JSON, HTML, SVG) of a finished run.

Imports the core's values and ``view`` (how a run is drawn); never the decode path or a face.
"""
