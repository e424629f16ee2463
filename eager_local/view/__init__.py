"""A run as the faces draw it: ``live_run`` (built from events), ``tree_model`` (the tree
outline), ``palette`` (the entropy colour scale), ``html_export`` and ``tree_graph``.

Pure: imports the core's values (events, result, tree) and ``method``; never the engine,
the decode path or a face.
"""
