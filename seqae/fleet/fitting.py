"""Fitting a fleet's assets: each one's detector by `fit_asset`, one after another in this process
or side by side in worker processes (`seqae.workers.worker_pool`: one torch thread each, gone
with the command that started them)."""

from __future__ import annotations

from seqae.errors import SeqaeError
from seqae.fleet.spec import FitSpec, FittedAsset, asset_label, fit_asset
from seqae.workers import worker_pool


def fit_assets(spec: FitSpec, jobs: list[tuple[str, object]], asset_column: str,
               n_jobs: int = 1) -> list[tuple[str, FittedAsset]]:
    """`(name, FittedAsset)` for each `(name, data)` of `jobs`, in their order: in this process
    when `n_jobs` is 1 (or there is one job), else in a pool of `min(n_jobs, len(jobs))` worker
    processes. An error names its asset (`asset_column` words it) and stops the other fits."""
    if n_jobs == 1 or len(jobs) == 1:
        return [(name, fit_named(spec, name, data, asset_column)) for name, data in jobs]
    with worker_pool(min(n_jobs, len(jobs)), preload=(__name__,)) as pool:
        futures = [(name, pool.submit(fit_named, spec, name, data, asset_column)) for name, data in jobs]
        return [(name, future.result()) for name, future in futures]


def fit_named(spec: FitSpec, name: str, data, asset_column: str) -> FittedAsset:
    """`fit_asset`, its errors naming the asset (they cross the process boundary as they are)."""
    try:
        return fit_asset(spec, data)
    except SeqaeError as exc:
        raise type(exc)(f"{asset_label(name, asset_column)}: {exc}") from None
