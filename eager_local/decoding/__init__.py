"""The decode path: one batched ``llama_decode`` per step, and what each run does with its rows.

``scheduler`` (with ``admission``, ``batch`` and ``prefix``) drives ``run_state`` (one run's
choices: fork, sample, stop), which uses ``sampling`` (pure numpy) and the core's ``tree``.
It imports the engine, ``method`` and the core's values; never a face (cli, server,
evaluation, bench, tui) nor ``api``.
"""
