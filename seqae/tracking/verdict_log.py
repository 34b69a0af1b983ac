"""The verdict log of a registered model: every verdict its versions were taught (`seqae feedback`),
read back from the store for `seqae evaluate --labels-from-verdicts`.

    models:/NAME/VERSION (or @ALIAS) --every version of NAME--> the feedback runs among their runs
      (tag seqae.kind = feedback) --feedback/effects.csv--> one row per verdict: start, end, verdict,
      note, the version it made

All versions of the registered model count, not only the one evaluated: a verdict is a label of
the rows it was given on, so two versions are compared on the same labels.
"""

from __future__ import annotations

import tempfile

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from seqae.errors import ConfigError, DataError, hide_credentials
from seqae.tracking.feedback import registered_name

EFFECTS_ARTIFACT = "feedback/effects.csv"  # what `seqae.tracking.feedback` logs, one row per verdict
LOG_COLUMNS = ["start", "end", "verdict", "note", "version"]


def verdict_log(model_uri: str) -> pd.DataFrame:
    """The verdicts given on the versions of the registered model `model_uri` names (`LOG_COLUMNS`,
    oldest version first, each verdict once); a one-line error when it names no registered model
    or its versions hold no verdict."""
    shown = hide_credentials(model_uri)
    try:
        name = registered_name(model_uri, None)
    except ConfigError:
        raise ConfigError(f"{shown}: verdicts are kept per registered model; give one as models:/NAME/VERSION "
                          "(or models:/NAME@ALIAS), or label the file with --label-column NAME") from None
    client = MlflowClient()
    try:
        versions = client.search_model_versions(f"name='{name}'")
    except MlflowException as exc:
        raise DataError(f"{shown}: cannot list the versions of registered model {name!r} "
                        f"({str(exc).splitlines()[0]})") from None
    parts = []
    with tempfile.TemporaryDirectory() as tmp:
        for version in sorted(versions, key=lambda v: int(v.version)):
            if not version.run_id:
                continue
            run = client.get_run(version.run_id)
            if run.data.tags.get("seqae.kind") != "feedback":
                continue
            try:
                path = client.download_artifacts(version.run_id, EFFECTS_ARTIFACT, tmp)
            except (MlflowException, OSError):
                continue  # a feedback run that logged no verdicts
            effects = pd.read_csv(path, dtype=str, keep_default_na=False)
            parts.append(effects.reindex(columns=LOG_COLUMNS[:-1], fill_value="").assign(version=str(version.version)))
    if not parts:
        listed = ", ".join(sorted((str(v.version) for v in versions), key=int)) or "none"
        raise DataError(f"{shown}: registered model {name!r} has no operator verdicts (versions: {listed}); give "
                        f"some with `seqae feedback {shown} --alert ID --fault` (or --normal), or label the file "
                        "with --label-column NAME")
    log = pd.concat(parts, ignore_index=True)
    return log.drop_duplicates(subset=["start", "end", "verdict"], keep="first").reset_index(drop=True)
