import django_filters
from django.db.models import Exists, OuterRef, Q

from accounts.models import Organisation, OrganisationType
from accounts.nhsuk_forms import NamedModelChoiceFilter
from participation.models import ServiceYear

from .models import Declaration
from .selectors import open_flags


class DeclarationFilter(django_filters.FilterSet):
    service_year = NamedModelChoiceFilter(
        queryset=ServiceYear.objects.none(), to_field_name="code", label="Service", empty_label="Any"
    )
    state = django_filters.ChoiceFilter(choices=Declaration.State.choices, label="Status", empty_label="Any")
    sub_icb = django_filters.ModelChoiceFilter(
        field_name="practice__parent",
        queryset=Organisation.objects.none(),
        to_field_name="code",
        label="Sub-ICB location",
        empty_label="Any",
    )
    flagged = django_filters.ChoiceFilter(
        choices=[("yes", "Changed after sending: needs commissioner action")],
        method="filter_flagged",
        label="Recalculation",
        empty_label="Any",
    )
    search = django_filters.CharFilter(method="filter_search", label="Practice code or name")

    class Meta:
        model = Declaration
        fields = []

    def __init__(self, *args, sub_icbs, **kwargs):
        super().__init__(*args, **kwargs)
        # EXISTS probes the declarations' service-year index once per year; a join made DISTINCT read every
        # declaration in the country on each page (110 ms at national scale).
        self.filters["service_year"].queryset = ServiceYear.objects.filter(
            Exists(Declaration.objects.filter(service_year=OuterRef("pk")))
        )
        self.filters["sub_icb"].queryset = sub_icbs.filter(type=OrganisationType.SUB_ICB).order_by("code")

    def filter_search(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(Q(practice__code__iexact=value) | Q(practice__name__icontains=value))

    def filter_flagged(self, queryset, name, value):
        return queryset.filter(pk__in=open_flags().values("declaration_id")) if value == "yes" else queryset
