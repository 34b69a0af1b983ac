"""`seqae fit DATA...` as one call: the files read and fitted into one run (auto's default, or the
model named), or, with an asset column, a fleet (`seqae.fleet.fit_fleet_from_files`).

The rules of the command's options live here, checked before a file is read or a run opened: auto
takes only `seqae.autoconfig.AUTO_PARAMS`, `compare` needs auto on one data set, a fleet's options
need an asset column.
"""

from __future__ import annotations

from seqae.autoconfig import check_auto_params
from seqae.data import ReadOptions, read_training_files
from seqae.detectors import make_detector
from seqae.errors import ConfigError
from seqae.fleet import FleetFitResult, fit_fleet_from_files, refuse_fleet_options
from seqae.progress import StageLog
from seqae.tracking.fit import FitResult, check_plots, fit_and_log, fit_auto_and_log
from seqae.tracking.store import DEFAULT_EXPERIMENT

RUN_PARAMS = ("window_size", "random_state", "threshold")  # auto's parameters fit_auto_and_log takes by name


def fit_files_and_log(paths, *, model_type: str = "auto", params: dict | None = None, compare: bool = False,
                      asset_column: str | None = None, fallback: str | None = None, jobs: int | None = None,
                      columns=None, label_column: str | None = None, train_rows: int | None = None,
                      train_until: str | None = None, options: ReadOptions | None = None,
                      experiment: str = DEFAULT_EXPERIMENT, run_name: str | None = None, register: str | None = None,
                      alias: str | None = None, device: str = "auto", verbose: bool = True, plots: str = "all"
                      ) -> FitResult | FleetFitResult:
    """Fit a detector on the training rows of `paths` (files, or a directory of .csv files) as one run.

    Args:
        model_type: "auto" (`seqae.autoconfig.auto_fit`, with `compare` its candidates as child
            runs) or a detector's model type (`seqae.detectors.DETECTORS`).
        params: the detector's parameters (`threshold` a `seqae.thresholds.Threshold`); a network's
            `verbose` and `device` default to `verbose` and `device`.
        asset_column, fallback, jobs: a fleet export, one detector per asset (`seqae.fleet`).
        columns, label_column, train_rows, train_until, options: what is read (`read_training_files`;
            the columns `params`' `roles` make states and constants hold their last reading).
        experiment, run_name, register, alias: where the run goes and what the model is registered as.
        plots: the figures a run of one detector draws (`seqae.tracking.fit.PLOT_SETS`); a fleet's
            runs draw none.
    """
    params = dict(params or {})
    check_plots(plots)
    if model_type == "auto":
        check_auto_params(params)
    if compare and (model_type != "auto" or asset_column is not None):
        raise ConfigError("--compare compares auto's candidates on one data set; leave out "
                          + ("--model" if model_type != "auto" else "--asset-column"))
    if asset_column is not None:
        return fit_fleet_from_files(paths, asset_column, model_type=model_type, params=params, fallback=fallback,
                                    jobs=jobs, columns=columns, label_column=label_column, train_rows=train_rows,
                                    train_until=train_until, options=options, experiment=experiment,
                                    run_name=run_name, register=register, alias=alias)
    refuse_fleet_options(fallback=fallback, jobs=jobs)
    training = read_training_files(paths, columns=columns, label_column=label_column, options=options,
                                   train_rows=train_rows, train_until=train_until, roles=params.get("roles"))
    if model_type == "auto":
        given = {name: value for name, value in params.items() if name not in RUN_PARAMS}
        return fit_auto_and_log(training, random_state=params.get("random_state"),
                                window_size=params.get("window_size"), threshold=params.get("threshold"),
                                given=given, experiment=experiment, run_name=run_name, register=register, alias=alias,
                                device=device, compare=compare, verbose=verbose,
                                progress=StageLog("auto", enabled=verbose), plots=plots)
    detector = make_detector(model_type, **params)
    defaults = {"verbose": verbose, "device": device}
    detector.set_params(**{name: value for name, value in defaults.items()
                           if name in detector.get_params() and name not in params})
    return fit_and_log(detector, training, experiment=experiment, run_name=run_name, register=register, alias=alias,
                       plots=plots)
