"""Auto-configuration: a window and a detector for a training series, without labels.

    window.py       the window the period gives (`seqae.data.period`: the ACF's highest peak over the sensors)
    candidates.py   the default detector and its members, and the candidates compared with it
    injections.py   synthetic anomalies injected into copies of the held-out rows (for --compare)
    auto.py         `auto_fit`: the default fitted at the data's window; with compare, the report

`auto_fit(frame)` is what `seqae fit` does with no options; `auto_fit(frame, compare=True)` is
`seqae fit --compare`.
"""

from seqae.autoconfig.auto import AUTO_PARAMS, AutoFitResult, auto_fit, check_auto_params, compare_candidates
from seqae.autoconfig.candidates import (DESCRIPTIONS, NETWORK_MAX_WINDOW, Candidate, default_candidate,
                                         default_candidates, default_members)
from seqae.autoconfig.injections import (INJECTION_KINDS, INJECTIONS_PER_KIND, causal_mean, inject, injected_ap,
                                         injection_suite, recordings_suite)
from seqae.autoconfig.window import MAX_WINDOW, MIN_WINDOW, VALIDATION_FRACTION, choose_window
from seqae.data.period import autocorrelation, find_period

__all__ = ["AUTO_PARAMS", "AutoFitResult", "Candidate", "DESCRIPTIONS", "INJECTIONS_PER_KIND", "INJECTION_KINDS",
           "MAX_WINDOW", "MIN_WINDOW", "NETWORK_MAX_WINDOW", "VALIDATION_FRACTION", "auto_fit", "autocorrelation",
           "causal_mean", "check_auto_params",
           "choose_window", "compare_candidates", "default_candidate", "default_candidates", "default_members",
           "find_period", "inject", "injected_ap", "injection_suite", "recordings_suite"]
