"""The click command classes seqae's commands are made with: what every command does around its
own work (a SIGTERM stops it as Ctrl-C does; `seqae --threads` applied before torch runs), and
`quiet_tracking`, the store a command imports once it runs.

Kept apart from the commands so that the command modules (`seqae.cli_fit`, `seqae.cli_scoring`,
`seqae.cli_latent`, `seqae.cli_runs`) share them without importing one another; nothing here imports
torch or MLflow until a command runs.
"""

from __future__ import annotations

import sys

import click

from seqae.errors import Stopped
from seqae.processes import Terminated, sigterm_exits


class CleanExitCommand(click.Command):
    """A command that SIGTERM stops as Ctrl-C does: its temporary files removed, its MLflow runs
    ended KILLED (`seqae.processes.sigterm_exits`), wherever the signal landed: inside the store's
    commit of a new run, or before MLflow handed the run back. The servers (`serve`, `ui`) keep
    their own handling of signals."""

    def invoke(self, ctx):
        if self.name in ("serve", "ui"):
            return super().invoke(ctx)
        with sigterm_exits():
            try:
                return super().invoke(ctx)
            except (KeyboardInterrupt, Terminated, Stopped):
                store = sys.modules.get("seqae.tracking.store")  # not loaded: no run was started
                if store is not None:
                    store.end_runs_left_running()
                raise


class SeqaeCommand(CleanExitCommand):
    """A command whose work runs torch: `seqae --threads` is applied once the command's own
    arguments have parsed, so that its --help and its usage errors do not import torch."""

    def invoke(self, ctx):
        from seqae import devices

        devices.use_threads(ctx.find_root().params["threads"])
        return super().invoke(ctx)


def quiet_tracking():
    """`seqae.tracking`, imported when a command runs (so that `seqae --help` answers quickly), with
    MLflow's own logging quieted."""
    from seqae import tracking

    tracking.quiet_mlflow()
    return tracking
