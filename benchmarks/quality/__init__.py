"""seqae's detection quality on the dev sets, one study per sub-command: `python -m benchmarks.quality --help`.

Each study is a module of this package with a docstring (what it measures, its command) and a
`main(argv)`; `protocol` holds the dev sets and their splits, `common` what the studies share.
"""

# sub-command -> module of this package (the first line of its docstring is the command's summary)
STUDIES = {
    "skab": "skab",
    "levers": "levers",
    "threshold-rows": "threshold_rows",
    "defaults": "defaults",
    "ensembles": "ensembles",
    "family-validation": "family_validation",
    "point-flags": "point_flags",
    "causal": "causal",
    "alerts": "alerts",
    "train-stride": "train_stride",
    "fit-budget": "fit_budget",
    "validation-curves": "validation_curves",
    "synthetic-set": "synthetic_set",
    "recurrent": "recurrent",
    "decisions": "decisions",
    "firing": "firing",
    "feedback": "feedback",
    "fault-match": "fault_match",
    "state-alerts": "state_alerts",
}
