"""The detectors by model type.

Every `BaseDetector` subclass with a `model_type` registers itself in `DETECTORS` when its class is
defined, so `make_detector` and `BaseDetector.load` find it by name; importing `seqae.detectors`
imports every family, which fills the registry and names its model types in `make_detector`'s
docstring.
"""

from __future__ import annotations

from seqae.errors import ConfigError

# model_type -> `seqae.detectors.base.BaseDetector` subclass, filled as the classes are defined (the
# registry names no class itself: the base class registers into it)
DETECTORS: dict[str, type] = {}


def make_detector(model_type: str, **params):
    """Build a detector by its model type with `params` (the class's keyword arguments); a one-line
    `ConfigError` names an unknown type or parameter.

    Model types: MODEL_TYPES.
    """
    if model_type not in DETECTORS:
        raise ConfigError(f"unknown model {model_type!r}; choose one of {', '.join(DETECTORS)}")
    cls = DETECTORS[model_type]
    valid = cls().get_params()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ConfigError(f"model {model_type!r} takes no parameter {unknown[0]!r}; "
                          f"it takes {', '.join(sorted(valid))}")
    return cls(**params)


def name_model_types() -> None:
    """Write the registered model types into `make_detector`'s docstring (once every family is imported)."""
    make_detector.__doc__ = make_detector.__doc__.replace("MODEL_TYPES", ", ".join(f"`{name}`" for name in DETECTORS))
