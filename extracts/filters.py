import django_filters

from accounts.nhsuk_forms import NamedModelChoiceFilter
from participation.models import ServiceYear

from .models import Extract


class ExtractFilter(django_filters.FilterSet):
    service_year = NamedModelChoiceFilter(
        queryset=ServiceYear.objects.order_by("-financial_year", "service__code"),
        to_field_name="code",
        label="Service year",
        empty_label="All service years",
    )
    achievement_date = django_filters.DateFilter(label="Achievement date (YYYY-MM-DD)")
    file_name = django_filters.CharFilter(lookup_expr="icontains", label="File name contains")

    class Meta:
        model = Extract
        fields = []
