import django_filters
from django.db.models import Q

from calculation.models import PracticeResult


class ProviderFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", label="Practice code or name")
    sub_icb = django_filters.CharFilter(
        field_name="practice__parent__code", lookup_expr="iexact", label="Sub-ICB code"
    )
    points_below = django_filters.NumberFilter(field_name="points", lookup_expr="lt", label="Points below")

    class Meta:
        model = PracticeResult
        fields = []

    def filter_search(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(Q(practice__code__iexact=value) | Q(practice__name__icontains=value))
