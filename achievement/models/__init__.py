from .extracts import Extract, ExtractValue, ManualAnswer
from .runs import (
    CalculationRun,
    FrozenPrevalence,
    IndicatorResult,
    Notification,
    PracticeListSize,
    PracticeResult,
    PrevalenceResult,
    Publication,
)

__all__ = [
    "CalculationRun",
    "Extract",
    "ExtractValue",
    "FrozenPrevalence",
    "IndicatorResult",
    "ManualAnswer",
    "Notification",
    "PracticeListSize",
    "PracticeResult",
    "PrevalenceResult",
    "Publication",
]
