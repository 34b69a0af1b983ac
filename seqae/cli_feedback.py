"""`seqae feedback`: a thin click command over `seqae.tracking.feedback`, registered on the `seqae`
group by `seqae.cli`.

    seqae feedback MODEL --alert ID --normal            the alert was normal: the next version learns it
    seqae feedback MODEL --alert ID --normal --run RUN  the alert of that `seqae score` or `seqae watch` run
    seqae feedback MODEL --alert ID --fault --note ...  the alert was a fault: kept as a labelled example
    seqae feedback MODEL --verdicts verdicts.csv        a batch (start,end,verdict,note or alert_id,...)

Like `seqae.cli`, nothing here imports torch, pandas or MLflow until the command runs.
"""

from __future__ import annotations

import click

from seqae.cli_commands import SeqaeCommand
from seqae.cli_options import INPUT_FILE, experiment_option, read_options


@click.command(cls=SeqaeCommand)
@click.argument("model_uri", metavar="MODEL_URI")
@click.option("--alert", "alert_id", type=int, metavar="ID",
              help="The alert's id (alert_id in the alert table of `seqae score --intervals`, or in a "
                   "`seqae watch` answer).")
@click.option("--normal", "verdict", flag_value="normal",
              help="With --alert: the alert was normal; the new version stops alerting on the same pattern.")
@click.option("--fault", "verdict", flag_value="fault",
              help="With --alert: the alert was a fault; the new version keeps it as a labelled example.")
@click.option("--note", default="", help="With --alert: what the operator saw (kept with the verdict).")
@click.option("--verdicts", "verdicts_path", type=INPUT_FILE, metavar="FILE",
              help="A CSV of verdicts: start,end,verdict,note (start and end as the alert table has them) or "
                   "alert_id,verdict,note; verdict is normal or fault.")
@click.option("--run", "run_id", metavar="RUN_ID",
              help="The `seqae score` or `seqae watch` run that raised the alerts (default: the newest run of "
                   "MODEL_URI's model that has each); for an alert id that several runs have.")
@click.option("--data", type=INPUT_FILE, metavar="FILE",
              help="Read the alerts' rows from this CSV (the file that was scored) instead of the run "
                   "`seqae score` or `seqae watch` kept.")
@click.option("--register", metavar="NAME",
              help="The registered model the new version joins (default: the one MODEL_URI names).")
@click.option("--alias", help="Point this alias (e.g. champion) at the new version; without it, no alias moves.")
@click.option("--force", is_flag=True,
              help="Let a normal verdict raise the threshold beyond the alert rules' extreme (times the "
                   "threshold), which could hide anomalies as large.")
@read_options
@experiment_option
def feedback(model_uri, alert_id, verdict, note, verdicts_path, run_id, data, register, alias, force, read,
             experiment):
    """Teach a model an operator's verdicts on its alerts; log the result as its next version.

    A normal verdict: the model (knn-window, alone or in the default ensemble) keeps the
    alert's windows as judged normal, and an alert that would fire on a window like them is not
    raised later, every other decision going on as without the verdict; the scores
    stay as they were, and the threshold rises over the rows only where that is not enough. A
    fault verdict: the alert's times, note and top sensors are kept with the model. The alert's
    rows come from the newest `seqae score` or `seqae watch` run of MODEL_URI's model that raised
    it (or the run --run names), or from --data FILE.
    Each feedback is an MLflow run with the verdicts as its input, tags naming the parent
    model, and the new model registered as the next version.
    """
    from seqae import tracking
    from seqae.verdicts import Verdict, read_verdicts

    if (alert_id is None) == (verdicts_path is None):
        raise click.UsageError("give one alert with --alert ID --normal (or --fault), or a file with --verdicts FILE")
    if verdicts_path is not None:
        if verdict is not None or note:
            raise click.UsageError("--normal, --fault and --note go with --alert; a verdicts file has its own columns")
        verdicts = read_verdicts(verdicts_path)
    else:
        if verdict is None:
            raise click.UsageError("--alert needs a verdict: --normal or --fault")
        verdicts = [Verdict(verdict, alert_id=alert_id, note=note)]
    tracking.quiet_mlflow()
    from seqae.tracking.feedback import feedback_and_log

    result = feedback_and_log(model_uri, verdicts, verdicts_path=verdicts_path, data=data, options=read,
                              register=register, alias=alias, force=force, experiment=experiment, run_id=run_id)
    for row in result.effects.to_dict("records"):
        named = f"alert {row['alert_id']}" if row["alert_id"] is not None and row["alert_id"] >= 0 else "alert"
        click.echo(f"{named} {row['start']} .. {row['end']}: from {row['source']}")
        if row["verdict"] == "normal":
            click.echo(f"alert {row['start']} .. {row['end']}: normal; peak {row['peak_before']:.3g} -> "
                       f"{row['peak_after']:.3g} times the threshold, threshold x{row['threshold_ratio']:.3g}, "
                       f"{row['windows_learnt']} windows learnt")
        else:
            click.echo(f"alert {row['start']} .. {row['end']}: fault kept ({row['rows']} rows)"
                       + (f": {row['note']}" if row["note"] else ""))
    for note_line in result.notes:
        click.echo(f"Warning: {note_line}", err=True)
    click.echo(f"run:    {result.run_id}")
    click.echo(f"model:  {result.registered_uri} (version {result.version})")
    click.echo(f"view:   {tracking.how_to_view(result.run_url)}")
