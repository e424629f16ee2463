"""Evaluation over datasets: items, prompts, answer checking, metrics, the runner, reports.

The headless core of ``eager eval``, ``eager calibrate`` and ``eager report``;
the CLI modules are thin faces over it.
"""
