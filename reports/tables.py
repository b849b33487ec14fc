import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html
from django_tables2.data import TableListData

from accounts.models import OrganisationType
from accounts.tabular import CountColumn, PointsColumn, PoundsColumn
from accounts.tabular import points as shown_points
from accounts.tabular import pounds as shown_pounds
from calculation.models import PracticeResult
from payments.selectors import payment_state


class ProviderTable(tables.Table):
    """Detailed Provider Achievement Report: one row per practice a commissioner commissions."""

    code = tables.Column(accessor="practice__code", verbose_name="ODS code", order_by="practice__code")
    name = tables.Column(accessor="practice__name", verbose_name="Practice", order_by="practice__name")
    sub_icb = tables.Column(
        accessor="practice__parent__code", verbose_name="Sub-ICB location", order_by="practice__parent__code"
    )
    points = PointsColumn(verbose_name="Points", total=True)
    payment = PoundsColumn(verbose_name="Achievement payment", total=True)
    aspiration_monthly = PoundsColumn(verbose_name="Aspiration next year, monthly", total=True)
    status = tables.Column(accessor="indicator_run__kind", verbose_name="Calculated by", orderable=False)
    payment_status = tables.Column(accessor="practice_id", verbose_name="Payment status", orderable=False)

    class Meta:
        model = PracticeResult
        fields = [
            "code",
            "name",
            "sub_icb",
            "points",
            "payment",
            "aspiration_monthly",
            "status",
            "payment_status",
        ]
        attrs = {"class": "nhsuk-table"}
        empty_text = "No published achievement for these practices."

    def __init__(self, *args, publication=None, payment_states=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.publication = publication
        self.payment_states = payment_states or {}

    def _payment_state(self, practice_id):
        year_end = self.publication is not None and (
            self.publication.achievement_date == self.publication.service_year.end_date
        )
        return payment_state(self.payment_states, practice_id, year_end)

    def render_payment_status(self, record):
        if record.practice.type == OrganisationType.PCN:
            # A PCN's network achievement is paid on its nominated payee's statement (ADR 0018).
            return str(self._payment_state(record.practice_id))
        url = reverse("payments:statement", kwargs={"code": record.practice.code})
        if self.publication is not None:
            url += f"?year={self.publication.service_year.code}"
        return format_html('<a href="{}">{}</a>', url, str(self._payment_state(record.practice_id)))

    def value_payment_status(self, record):
        state = self._payment_state(record.practice_id)
        return f"{state.code} {state.on:%Y-%m-%d}" if state.on else state.code

    def render_code(self, record, value):
        if record.practice.type == OrganisationType.PCN:
            return value  # the practice pages are for practices; its declaration is reached from the list
        url = reverse("reports:practice_summary", kwargs={"code": value})
        if self.publication is not None:
            url += f"?publication={self.publication.pk}"
        return format_html('<a href="{}">{}</a>', url, value)

    def value_code(self, value):
        return value

    def _explained(self, record, text):
        if record.practice.type == OrganisationType.PCN:
            return text
        url = reverse("reports:explain_practice", kwargs={"code": record.practice.code})
        if self.publication is not None:
            url += f"?publication={self.publication.pk}"
        return format_html('<a href="{}">{}</a>', url, text)

    def render_points(self, record, value):
        return self._explained(record, shown_points(value))

    def render_payment(self, record, value):
        return self._explained(record, shown_pounds(value))

    def value_points(self, value):
        return value

    def value_payment(self, value):
        return value

    def render_status(self, record):
        run = record.indicator_run
        return f"{run.get_kind_display()} run {run.pk}, {run.created_at:%d %b %Y}"

    def value_status(self, record):
        return record.indicator_run.get_kind_display()


class RowsAsNeeded(TableListData):
    """Hands django-tables2 a sequence whose rows are made when a page asks for them; sorting by a column
    makes them all first (reports.opportunities.OpportunityRows)."""

    def order_by(self, aliases):
        self.data = list(self.data)
        super().order_by(aliases)


class OpportunityTable(tables.Table):
    """What would earn more, from reports.opportunities: one row per indicator of a practice."""

    practice = tables.Column(accessor="practice_code", verbose_name="Practice")
    indicator = tables.Column(accessor="indicator_code", verbose_name="Indicator")
    action = tables.Column(accessor="what", verbose_name="What would earn more", orderable=False)
    patients_to_next_point = CountColumn(verbose_name="Patients to the next point")
    patients_to_upper = CountColumn(verbose_name="Patients to the upper threshold")
    points_gain = PointsColumn(verbose_name="Points to gain")
    per_patient = PoundsColumn(verbose_name="£ per patient")
    value = PoundsColumn(verbose_name="£ to gain")

    class Meta:
        attrs = {"class": "nhsuk-table"}
        empty_text = "Nothing more to earn: every indicator is at full points or has no patients counted."
        orderable = True

    def __init__(self, rows, *args, publication=None, shows_money=True, **kwargs):
        exclude = list(kwargs.pop("exclude", []))
        if not shows_money:
            exclude += ["per_patient", "value"]
        super().__init__(RowsAsNeeded(rows), *args, exclude=exclude, **kwargs)
        self.publication = publication

    def render_practice(self, record):
        return format_html(
            '{} <span class="nhsuk-body-s">{}</span>', record.practice_code, record.practice_name
        )

    def render_indicator(self, record):
        url = reverse(
            "reports:explain_indicator",
            kwargs={"code": record.practice_code, "indicator": record.indicator_code},
        )
        if self.publication is not None:
            url += f"?publication={self.publication.pk}"
        return format_html('<a href="{}">{}</a> {}', url, record.indicator_code, record.description)

    def render_action(self, record):
        if record.what == "answer":
            return format_html(
                "<strong>Answer it</strong> by {}: not answered yet", f"{record.deadline:%-d %B %Y}"
            )
        before = ""
        if record.patients_to_lower:
            before = f" ({record.patients_to_lower:,} before the lower threshold earn nothing)"
        return f"{record.numerator:,} of {record.denominator:,} now ({record.achievement:.1f}%){before}"

    def value_action(self, record):
        return "Answer" if record.what == "answer" else "Patients"

    def render_patients_to_next_point(self, record):
        return "–" if record.what == "answer" else f"{record.patients_to_next_point:,}"

    def value_patients_to_next_point(self, record):
        return None if record.what == "answer" else record.patients_to_next_point

    def render_patients_to_upper(self, record):
        return "–" if record.what == "answer" else f"{record.patients_to_upper:,}"

    def value_patients_to_upper(self, record):
        return None if record.what == "answer" else record.patients_to_upper

    def render_points_gain(self, record):
        return shown_points(self.value_points_gain(record))

    def value_points_gain(self, record):
        return record.available - record.points if record.what == "answer" else record.points_gain

    def render_per_patient(self, record):
        return "–" if record.what == "answer" else shown_pounds(record.per_patient)

    def value_per_patient(self, record):
        return None if record.what == "answer" else record.per_patient


class ForecastTable(tables.Table):
    """Forecast year-end figures per practice (reports.forecast), with the range and what follows."""

    practice = tables.Column(accessor="practice_code", verbose_name="Practice")
    points_now = PointsColumn(verbose_name="Points now", total=True)
    points_central = PointsColumn(verbose_name="Forecast points", total=True)
    points_range = tables.Column(accessor="points_central", verbose_name="Range", orderable=False)
    payment_central = PoundsColumn(verbose_name="Forecast payment", total=True)
    aspiration_central = PoundsColumn(verbose_name="Aspiration next year", total=True)
    balance_central = PoundsColumn(verbose_name="Year-end balance", total=True)
    method = tables.Column(verbose_name="Forecast from", orderable=False)

    class Meta:
        attrs = {"class": "nhsuk-table"}
        empty_text = "No in-year achievement published for these practices."

    def __init__(self, *args, shows_money=True, **kwargs):
        exclude = [] if shows_money else ["payment_central", "aspiration_central", "balance_central"]
        super().__init__(*args, exclude=exclude, **kwargs)

    def render_practice(self, record):
        url = reverse("reports:forecast", kwargs={"code": record.practice_code})
        return format_html('<a href="{}">{}</a> {}', url, record.practice_code, record.practice_name)

    def value_practice(self, record):
        return record.practice_code

    def render_points_range(self, record):
        return f"{record.points['low']} to {record.points['high']}"

    def render_method(self, record):
        return {"own_pattern": "its own last year", "national_pattern": "all practices' last year",
                "trend": "this year's trend", "held": "today's figures"}[record.method]  # fmt: skip
