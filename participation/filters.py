import django_filters
from django.db.models import Q

from accounts.models import Organisation

from .selectors import OVERVIEW_STATES


class ParticipationFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(field_name="offer_state", choices=OVERVIEW_STATES, label="State")
    search = django_filters.CharFilter(method="filter_search", label="Practice code or name")

    class Meta:
        model = Organisation
        fields = []

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(code__iexact=value.strip()) | Q(name__icontains=value.strip()))
