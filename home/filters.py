import django_filters
from django.db.models import Q

from accounts.models import Organisation


class PracticeFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", label="Practice code or name")
    sub_icb = django_filters.CharFilter(field_name="parent__code", lookup_expr="iexact", label="Sub-ICB code")
    icb = django_filters.CharFilter(field_name="parent__parent__code", lookup_expr="iexact", label="ICB code")

    class Meta:
        model = Organisation
        fields = []

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(code__iexact=value.strip()) | Q(name__icontains=value.strip()))
