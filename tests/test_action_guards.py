"""Every action that changes state checks its own `by=`, and removing any one check turns a test red.

`accounts.permissions.guarded` registers each action with its check. These tests hold the registry to the
code: every public function of every app's `actions` module is either guarded or a declared system step;
every guarded action refuses someone it should; and with that one check lifted (as if it were deleted) the
same call is no longer refused.
"""

import datetime as dt
import importlib
import inspect
from decimal import Decimal
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.organisation_import import parse_mapping
from accounts.permissions import GUARDED_ACTIONS, SYSTEM_STEPS, guard_lifted
from accounts.roles import Role
from accounts.second_factor import pending_authenticator
from participation.ruleset_files import RULESETS_DIR, read_rulesets
from tests.conftest import REPO
from tests.factories import QOF2324_OFFER_DATES, mapping_csv, user_with_roles
from tests.walk_world import MANUAL_INDICATOR, extract_file


def action_modules():
    """The `actions` modules of the project's own apps (Django's admin has one too)."""
    for config in apps.get_app_configs():
        path = Path(config.path)
        if not path.is_relative_to(REPO) or ".venv" in path.parts:
            continue
        try:
            yield importlib.import_module(f"{config.name}.actions")
        except ModuleNotFoundError:
            continue


def public_functions(module):
    for name, function in inspect.getmembers(module, inspect.isfunction):
        if not name.startswith("_") and function.__module__ == module.__name__:
            yield f"{module.__name__}.{name}"


def test_every_action_is_guarded_or_a_declared_system_step():
    unguarded = [
        name
        for module in action_modules()
        for name in public_functions(module)
        if name not in GUARDED_ACTIONS and name not in SYSTEM_STEPS
    ]
    assert not unguarded, (
        "every write checks its by= user: decorate these with @guarded(...) (or @system_step for work "
        f"no user asks for directly): {unguarded}"
    )


def test_system_steps_take_no_user():
    for name in SYSTEM_STEPS:
        module, _, function = name.rpartition(".")
        parameters = inspect.signature(getattr(importlib.import_module(module), function)).parameters
        assert "by" not in parameters, f"{name} takes by=, so it must check it: make it @guarded"


def a_file_on_disk(world, tmp_path):
    path = tmp_path / "probe.csv"
    path.write_bytes(extract_file(world.year, world.year.end_date, world.practices[:1]).read())
    return path


# For every guarded action, keyword arguments (without by=) for a call someone holding only View at practice
# B00001 may not make. Most are about practice A00001, outside that user's reach; the rest are national.
PROBES = {
    "accounts.actions.create_user": lambda w, tmp: {
        "email": "probe@nhs.net", "full_name": "Probe", "organisation": w.tree["A00001"], "role": Role.VIEW,
    },
    "accounts.actions.grant_role": lambda w, tmp: {
        "user": w.members["A00001"], "organisation": w.tree["A00001"], "role": Role.FINANCE_VIEW,
    },
    "accounts.actions.confirm_role_grant": lambda w, tmp: {"grant_request": w.grant_requests["01A"]},
    "accounts.actions.refuse_role_grant": lambda w, tmp: {"grant_request": w.grant_requests["01A"]},
    "accounts.actions.end_membership": lambda w, tmp: {"membership": w.memberships["A00001"]},
    "accounts.actions.reset_second_factor": lambda w, tmp: {"user": w.members["A00001"]},
    "accounts.actions.enrol_second_factor": lambda w, tmp: {
        "device": pending_authenticator(w.members["A00001"]), "token": "123456",
    },
    "accounts.actions.retire_user": lambda w, tmp: {"user": w.members["A00001"]},
    "accounts.actions.set_user_locked": lambda w, tmp: {"user": w.members["A00001"], "locked": True},
    "accounts.actions.import_organisations": lambda w, tmp: {
        "mapping": parse_mapping(mapping_csv()), "effective_date": timezone.localdate(),
    },
    "calculation.actions.nominate_payee": lambda w, tmp: {
        "pcn": w.tree["U00001"], "payee": w.tree["A00001"], "start_date": timezone.localdate(),
    },
    "calculation.actions.change_pcn_membership": lambda w, tmp: {
        "practice": w.tree["A00002"], "pcn": w.tree["U00002"],
        "start_date": timezone.localdate() + dt.timedelta(days=1),
    },
    "participation.actions.create_quality_service": lambda w, tmp: {
        "values": {"code": "PROBE", "name": "Probe", "kind": "enhanced_service"},
    },
    "participation.actions.update_quality_service": lambda w, tmp: {
        "service": w.year.service, "changes": {"name": "Renamed"},
    },
    "participation.actions.create_service_year": lambda w, tmp: {
        "values": {
            "service": w.year.service, "financial_year": 2030, "code": "QOF3031", "name": "QOF 2030/31",
            "start_date": dt.date(2030, 4, 1), "end_date": dt.date(2031, 3, 31),
            "point_value": Decimal("230"), "aspiration_rate": Decimal("0.8"),
            "manual_entry_deadline": dt.date(2031, 3, 31),
        },
    },
    "participation.actions.update_service_year": lambda w, tmp: {
        "service_year": w.year, "changes": {"point_value": Decimal("1")},
    },
    "participation.actions.create_indicator": lambda w, tmp: {
        "values": {
            "service_year": w.year, "code": "QI999", "group_code": "QI", "group_description": "QI",
            "domain_code": "QI", "points": Decimal("1"), "kind": "manual", "patient_list": "TOTAL",
            "prevalence_adjusted": False,
        },
    },
    "participation.actions.update_indicator": lambda w, tmp: {
        "indicator": w.year.indicators.get(code=MANUAL_INDICATOR), "changes": {"points": Decimal("1")},
    },
    "participation.actions.create_milestone": lambda w, tmp: {
        "values": {
            "service_year": w.year, "kind": "available_to_declare",
            "starts_on": w.year.end_date, "ends_on": w.year.end_date,
        },
    },
    "participation.actions.update_milestone": lambda w, tmp: {
        "milestone": _milestone(w), "changes": {"note": "Moved"},
    },
    "participation.actions.set_milestone": lambda w, tmp: {
        "service_year": w.year, "kind": "declaration_window",
        "changes": {"starts_on": w.year.end_date, "ends_on": w.year.end_date},
    },
    "participation.actions.create_service_rate": lambda w, tmp: {
        "values": {
            "service_year": w.year, "component": "probe_dose", "description": "Probe", "rate": Decimal("1"),
            "unit": "per_item", "population": "", "paid_to": "practice", "confidence": "confirmed",
        },
    },
    "participation.actions.update_service_rate": lambda w, tmp: {
        "rate": _service_rate(w), "changes": {"rate": Decimal("2")},
    },
    "participation.actions.update_rule_parameter": lambda w, tmp: {
        "parameter": _rule_parameter(w), "changes": {"note": "Checked"},
    },
    "participation.actions.load_rulesets": lambda w, tmp: {"rulesets": read_rulesets(RULESETS_DIR)},
    "participation.actions.load_ruleset_file": lambda w, tmp: {
        "service_year": w.offers["A00001"].service_year, "path": _ruleset_file(tmp), "file_name": "r.csv",
    },
    "participation.actions.offer_service": lambda w, tmp: {
        "service_year": w.offers["A00001"].service_year, "practices": [w.tree["A00001"]],
        **QOF2324_OFFER_DATES,
    },
    "participation.actions.accept_offer": lambda w, tmp: {"offer": w.offers["A00001"]},
    "participation.actions.decline_offer": lambda w, tmp: {"offer": w.offers["A00001"]},
    "participation.actions.withdraw_offers": lambda w, tmp: {"offers": [w.offers["A00001"]]},
    "participation.actions.approve_offers": lambda w, tmp: {"offers": [w.offers["A00001"]]},
    "participation.actions.end_participation": lambda w, tmp: {
        "participation": w.year.participations.get(practice=w.tree["A00001"]), "ended_on": w.year.end_date,
    },
    "participation.actions.expire_lapsed_offers": lambda w, tmp: {"today": dt.date(2023, 7, 1)},
    "participation.actions.record_automatic_participation": lambda w, tmp: {"service_year": w.year},
    "extracts.actions.load_extract": lambda w, tmp: {
        "path": a_file_on_disk(w, tmp), "file_name": "probe.csv",
    },
    "extracts.actions.receive_upload": lambda w, tmp: {
        "upload": SimpleUploadedFile("probe.csv", b"QUALITY_SERVICE\r\n"),
    },
    "manual_entry.actions.enter_manual_answers": lambda w, tmp: {
        "practice": w.tree["A00001"], "service_year": w.year, "answers": {MANUAL_INDICATOR: True},
    },
    "manual_entry.actions.set_missing_answers_to_yes": lambda w, tmp: {"service_year": w.year},
    "calculation.actions.start_run": lambda w, tmp: {
        "service_year": w.year, "achievement_date": w.year.end_date,
    },
    "calculation.actions.retry_run": lambda w, tmp: {"run": w.run},
    "calculation.actions.confirm_prevalence": lambda w, tmp: {"run": w.run, "note": "Probe"},
    "calculation.actions.reject_prevalence": lambda w, tmp: {"run": w.run, "reason": "Probe"},
    "calculation.actions.load_list_sizes": lambda w, tmp: {"service_year": w.year, "rows": []},
    "declarations.actions.declare": lambda w, tmp: {
        "declaration": w.declarations["A00001"], "statement_accepted": True,
    },
    "declarations.actions.approve": lambda w, tmp: {"declaration": w.declarations["A00002"]},
    "declarations.actions.financially_approve": lambda w, tmp: {"declaration": w.declarations["A00003"]},
    "declarations.actions.reject": lambda w, tmp: {
        "declaration": w.declarations["A00002"], "reason": "Probe",
    },
    "declarations.actions.bulk_approve": lambda w, tmp: {"declarations": [w.declarations["A00002"]]},
    "declarations.actions.bulk_financially_approve": lambda w, tmp: {
        "declarations": [w.declarations["A00003"]],
    },
    "declarations.actions.confirm_adjustment": lambda w, tmp: {"revision": w.revision},
    "declarations.actions.freeze": lambda w, tmp: {"service_year": w.year, "reason": "Probe"},
    "declarations.actions.unfreeze": lambda w, tmp: {"freeze": w.freeze},
    "payments.actions.approve_aspiration": lambda w, tmp: {
        "service_year": w.year, "commissioner": w.tree["01A"],
    },
    "payments.actions.approve_year_end": lambda w, tmp: {
        "service_year": w.year, "commissioner": w.tree["01A"],
    },
    "payments.actions.approve_lines": lambda w, tmp: {
        "commissioner": w.tree["01A"], "lines": [_payment_line(w)],
    },
    "payments.actions.set_aspiration_amount": lambda w, tmp: {
        "practice": w.tree["A00001"], "service_year": w.year, "kind": "agreed", "annual": Decimal("1.00"),
        "reason": "Probe",
    },
    "payments.actions.write_off": lambda w, tmp: {"line": _payment_line(w), "reason": "Probe"},
    "payments.actions.reissue": lambda w, tmp: {"line": _payment_line(w)},
    "payments.actions.release": lambda w, tmp: {"cutoff": timezone.now()},
    "payments.actions.import_acknowledgement": lambda w, tmp: {"text": "LINE_REFERENCE,STATUS,REASON\r\n"},
    # Every signed-in user may mark their own notifications read; nobody signed out may.
    "notifications.actions.mark_notifications_read": lambda w, tmp: {},
    "notices.actions.publish_notice": lambda w, tmp: {
        "values": {"title": "Probe", "body": "Probe", "audience": "everyone"},
    },
    "notices.actions.edit_notice": lambda w, tmp: {"notice": w.notice, "values": {"title": "Probe"}},
    "notices.actions.archive_notice": lambda w, tmp: {"notice": w.notice},
    # A notice to commissioners: the practice's View user does not read it, so may not dismiss it.
    "notices.actions.dismiss_notice": lambda w, tmp: {"notice": _notice_to_commissioners()},
    # A user's own calendar link, made and stopped by them alone.
    "home.actions.issue_calendar_feed": lambda w, tmp: {},
    "home.actions.revoke_calendar_feed": lambda w, tmp: {},
}  # fmt: skip
SIGNED_OUT = {
    "notifications.actions.mark_notifications_read",
    "home.actions.issue_calendar_feed",
    "home.actions.revoke_calendar_feed",
}


def _notice_to_commissioners():
    from notices.models import Notice

    return Notice.objects.create(title="Probe", body="Probe", audience="commissioners")


def _ruleset_file(tmp_path):
    path = tmp_path / "ruleset.csv"
    path.write_text(
        "indicator_code,group_code,group_description,domain_code,points,kind,carries_register,patient_list,"
        "additional_patient_list,prevalence_adjusted,lower_threshold,upper_threshold,threshold_confidence\n"
        "QI001,QI,Quality improvement,QI,27,manual,0,TOTAL,,0,,,\n"
    )
    return path


def _payment_line(world):
    """A small recovery of practice A00001 awaiting approval, as a recalculation would leave one."""
    from payments.models import PaymentLine

    practice = world.tree["A00001"]
    return PaymentLine.objects.create(
        reference=f"ADJ-PROBE-{PaymentLine.objects.count()}", payee=practice, commissioner=practice.parent,
        service_year=world.year, achievement_date=world.year.end_date, component="ADJUSTMENT",
        amount=Decimal("-1.00"), due_date=world.year.end_date, status="awaiting_approval",
    )  # fmt: skip


def _milestone(world):
    from participation import actions

    return actions.create_milestone(
        values={
            "service_year": world.year, "kind": "available_to_declare",
            "starts_on": world.year.end_date, "ends_on": world.year.end_date,
        },
        by=None,
    )  # fmt: skip


def _service_rate(world):
    from participation.models import ServiceRate

    return ServiceRate.objects.get_or_create(
        service_year=world.year, component="probe_dose",
        defaults={
            "description": "Probe", "rate": Decimal("1"), "unit": "per_item", "paid_to": "practice",
            "confidence": "unconfirmed",
        },
    )[0]  # fmt: skip


def _rule_parameter(world):
    from participation.models import RuleParameter

    return RuleParameter.objects.get_or_create(
        service_year=world.year, rule="vaccination_improvement", name="probe",
        defaults={"value": "1", "confidence": "unconfirmed"},
    )[0]  # fmt: skip


def test_every_guarded_action_has_a_probe():
    assert sorted(set(GUARDED_ACTIONS) - set(PROBES)) == [], "add a probe for each new guarded action"


def _call(name, by, kwargs):
    module, _, function = name.rpartition(".")
    return getattr(importlib.import_module(module), function)(**kwargs, by=by)


@pytest.mark.parametrize("name", sorted(PROBES))
def test_removing_an_actions_permission_check_is_caught(world, tmp_path, name):
    outsider = AnonymousUser() if name in SIGNED_OUT else user_with_roles(world.tree["B00001"], Role.VIEW)
    with pytest.raises(PermissionDenied):
        _call(name, outsider, PROBES[name](world, tmp_path))
    with guard_lifted(GUARDED_ACTIONS[name]):
        try:
            _call(name, outsider, PROBES[name](world, tmp_path))
        except PermissionDenied:  # pragma: no cover - what this test exists to catch
            pytest.fail(f"{name} still refused the call with its own check lifted: something else guards it")
        except Exception:  # noqa: S110 - only a refusal of permission matters here
            pass
