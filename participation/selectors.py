import pandas as pd
from django.db.models import Count, Q, QuerySet

from .models import Indicator, Provenance, ServiceYear

# The columns of shared/reference/qof_2023_24_indicators.csv, then what a year adds to them.
RULESET_COLUMNS = {
    "indicator_code": "code",
    "group_code": "group_code",
    "group_description": "group_description",
    "domain_code": "domain_code",
    "points": "points",
    "kind": "kind",
    "carries_register": "carries_register",
    "patient_list": "patient_list",
    "additional_patient_list": "additional_patient_list",
    "prevalence_adjusted": "prevalence_adjusted",
    "lower_threshold": "lower_threshold",
    "upper_threshold": "upper_threshold",
    "threshold_confidence": "threshold_confidence",
    "income_protected": "income_protected",
    "base_indicator_code": "base_indicator_code",
}
DECIMAL_COLUMNS = ["points", "lower_threshold", "upper_threshold"]
FLAG_COLUMNS = ["carries_register", "prevalence_adjusted", "income_protected"]


def ruleset_frame(service_year: ServiceYear) -> pd.DataFrame:
    """A service year's indicators, one row each in code order, for the calculation engine (one query).

    Points and thresholds are Decimals (None where a kind has no thresholds); flags are booleans.
    """
    rows = (
        Indicator.objects.filter(service_year_id=service_year.pk)
        .order_by("code")
        .values_list(*RULESET_COLUMNS.values())
    )
    frame = pd.DataFrame.from_records(list(rows), columns=list(RULESET_COLUMNS))
    # Decimal columns stay object so that no value passes through a float; flags become real booleans.
    return frame.astype(dict.fromkeys(DECIMAL_COLUMNS, object) | dict.fromkeys(FLAG_COLUMNS, bool))


def service_years_with_flags() -> QuerySet[ServiceYear]:
    """Service years with how many indicators they hold and how many carry values not yet confirmed."""
    not_confirmed = ~Q(indicators__definition_confidence=Provenance.CONFIRMED) | Q(
        indicators__threshold_confidence__in=[Provenance.INFERRED, Provenance.UNCONFIRMED]
    )
    return ServiceYear.objects.select_related("service", "base_year").annotate(
        indicator_count=Count("indicators"),
        flagged_indicator_count=Count("indicators", filter=not_confirmed),
    )
