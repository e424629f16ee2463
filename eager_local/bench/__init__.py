"""``eager bench``: ``runner`` runs the sections, ``figures`` holds their results and the
table, ``throughput`` is the eval-throughput section, ``common`` what sections share.

A face like the CLI: it may import the whole core; nothing in the core imports it.
"""
