"""What every ``eager bench`` section shares: the load average, θ calibrated as section 4 does."""

from __future__ import annotations

import os

from ..settings import Settings


def load_average() -> float | None:
    """The 1-minute load average (None where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def calibrate(model, cfg, fmt, log) -> float:
    from ..errors import DatasetError
    from ..evaluation.calibration import sample_entropies, theta_for_sequences
    from ..evaluation.datasets import load_dataset

    try:
        cal_ds = load_dataset(cfg.data, limit=cfg.calibration_items, offset=cfg.calibration_offset)
    except DatasetError:  # a short file: calibrate on the items after the evaluated ones
        cal_ds = load_dataset(cfg.data, limit=cfg.calibration_items, offset=cfg.items)
    log(f"[4] calibrating θ on {len(cal_ds.items)} other items (4 plain samples each)")
    s = Settings(method="parallel", max_seqs=4, max_new_tokens=cfg.max_new_tokens, seed=cfg.seed + 1)
    cal = sample_entropies(model, cal_ds, fmt, s)
    return theta_for_sequences(cal, min(cfg.target_seqs, cfg.max_seqs), cfg.max_seqs)
