"""What every portal URL answers to every role, for GET and for POST: the URL walk's specification.

Each route lists the URLs it has in the walk's world (`tests.walk_world`) and, for a user of a given role at
a given organisation, the exact status a GET and a POST must get. A POST carries data that a permitted user's
request would succeed with, and names the guarded action it reaches, so the walk can prove that removing
that action's own permission check is caught.

The rules the statuses follow: an object outside the user's organisations is a 404, whatever the method; a
page a role has no use for is a 404; a POST that reaches an action the role may not make is a 403 (the
action refuses it itself); a method a URL does not take is a 405.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import Organisation, OrganisationType
from accounts.roles import CATALOGUE, Permission, Role, roles_held_at
from cqrs_portal.guidance import PAGES as GUIDANCE
from cqrs_portal.help import TOPICS as HELP_TOPICS
from tests.factories import QOF2324_OFFER_DATES, date_fields
from tests.walk_world import MANUAL_INDICATOR, World, extract_file

P = Permission
T = OrganisationType
COMMISSIONER_OR_NATIONAL = {T.ICB, T.SUB_ICB, T.NATIONAL}
OK, REDIRECT, BAD_REQUEST, DENIED, NOT_FOUND, NOT_ALLOWED = 200, 302, 400, 403, 404, 405


@dataclass
class Walker:
    """The signed-in user the walk walks as: one role held at one organisation."""

    role: Role
    holder: Organisation
    user: object = None

    def holds(self, permission: Permission) -> bool:
        return permission in CATALOGUE[self.role].all_permissions()

    def sees(self, organisation: Organisation | None) -> bool:
        node = organisation
        while node is not None:
            if node.pk == self.holder.pk:
                return True
            node = node.parent
        return False

    def may(self, permission: Permission, organisation: Organisation) -> bool:
        return self.holds(permission) and self.sees(organisation)

    def nationally(self, permission: Permission) -> bool:
        return self.holder.type == T.NATIONAL and self.holds(permission)

    def manages_users_of(self, organisation: Organisation) -> bool:
        return (
            (self.holds(P.MANAGE_USERS) and organisation.pk == self.holder.pk)
            or self.may(P.MANAGE_COMMISSIONED_USERS, organisation)
            or self.nationally(P.SUPPORT)
        )


@dataclass
class Target:
    url: str
    organisation: Organisation | None = None
    obj: object = None


Expect = Callable[[Walker, Target], int]


@dataclass
class Post:
    expect: Expect
    data: Callable[[World, Walker, Target], dict] = lambda world, walker, target: {}
    action: str | None = None  # the guarded action a POST reaches, as "module.function"


@dataclass
class Route:
    name: str
    targets: Callable[[World], list[Target]]
    get: Expect
    posts: list[Post] = field(default_factory=list)  # none: the URL takes GET only, so a POST is a 405


# ---- Targets ------------------------------------------------------------------------------------------


def one(name: str, **kwargs) -> Callable[[World], list[Target]]:
    return lambda world: [Target(reverse(name, kwargs=kwargs))]


def each_organisation(name: str, **extra) -> Callable[[World], list[Target]]:
    def targets(world: World) -> list[Target]:
        kwargs = {key: value(world) for key, value in extra.items()}
        return [
            Target(reverse(name, kwargs={"code": code, **kwargs}), organisation)
            for code, organisation in world.tree.items()
        ]

    return targets


def each_offer(name: str) -> Callable[[World], list[Target]]:
    return lambda world: [
        Target(reverse(name, kwargs={"pk": offer.pk}), offer.practice, offer)
        for offer in world.offers.values()
    ]


def each_member(name: str, with_membership: bool = False) -> Callable[[World], list[Target]]:
    def targets(world: World) -> list[Target]:
        found = []
        for code, member in world.members.items():
            kwargs = {"pk": member.pk}
            if with_membership:
                kwargs["membership_pk"] = world.memberships[code].pk
            found.append(Target(reverse(name, kwargs=kwargs), world.tree[code], member))
        return found

    return targets


def each_grant_request(name: str) -> Callable[[World], list[Target]]:
    return lambda world: [
        Target(reverse(name, kwargs={"pk": grant.user_id, "grant_pk": grant.pk}), world.tree[code], grant)
        for code, grant in world.grant_requests.items()
    ]


def the_run(name: str) -> Callable[[World], list[Target]]:
    return lambda world: [Target(reverse(name, kwargs={"pk": world.run.pk}))]


def the_held_run(name: str) -> Callable[[World], list[Target]]:
    return lambda world: [Target(reverse(name, kwargs={"pk": world.held_run.pk}))]


def the_extract(name: str) -> Callable[[World], list[Target]]:
    return lambda world: [Target(reverse(name, kwargs={"pk": world.extract.pk}))]


def the_upload(name: str) -> Callable[[World], list[Target]]:
    return lambda world: [Target(reverse(name, kwargs={"pk": world.upload.pk}))]


def the_declaration(name: str, code: str) -> Callable[[World], list[Target]]:
    """The world's declaration of practice `code` (A00001 awaits declaring, A00002 approval, A00003
    financial approval; B00001 was sent for payment)."""

    def targets(world: World) -> list[Target]:
        declaration = world.declarations[code]
        return [Target(reverse(name, kwargs={"pk": declaration.pk}), declaration.practice, declaration)]

    return targets


def each_declaration(name: str) -> Callable[[World], list[Target]]:
    return lambda world: [
        Target(reverse(name, kwargs={"pk": declaration.pk}), declaration.practice, declaration)
        for declaration in world.declarations.values()
    ]


def the_revision(name: str) -> Callable[[World], list[Target]]:
    return lambda world: [
        Target(reverse(name, kwargs={"pk": world.revision.pk}), world.revision.declaration.practice)
    ]


def _first_batch() -> str:
    from payments.models import PaymentBatch

    return PaymentBatch.objects.order_by("cutoff").values_list("reference", flat=True).first()


# ---- Expectations -------------------------------------------------------------------------------------


def anyone(status: int = OK) -> Expect:
    return lambda walker, target: status


def organisation_page(permission: Permission = P.VIEW_ORGANISATION, types=None) -> Expect:
    """200 where the user holds `permission` for the URL's organisation (of these types), else 404."""

    def expect(walker: Walker, target: Target) -> int:
        organisation = target.organisation
        if types is not None and organisation.type not in types:
            return NOT_FOUND
        return OK if walker.may(permission, organisation) else NOT_FOUND

    return expect


def national_page(*permissions: Permission) -> Expect:
    return lambda walker, target: OK if any(walker.nationally(p) for p in permissions) else NOT_FOUND


def action_in_scope(
    action_permission: Permission,
    done: int = REDIRECT,
    seen_with: Permission = P.VIEW_ORGANISATION,
    types=None,
) -> Expect:
    """A POST about an organisation: 404 unless the user holds `seen_with` for it; then the action lets
    those holding `action_permission` for it through (`done`) and refuses the rest (403)."""

    def expect(walker: Walker, target: Target) -> int:
        organisation = target.organisation
        if (types is not None and organisation.type not in types) or not walker.may(seen_with, organisation):
            return NOT_FOUND
        return done if walker.may(action_permission, organisation) else DENIED

    return expect


def national_action(permission: Permission, done: int = REDIRECT) -> Expect:
    """A POST no object scopes: the action admits national holders of `permission` and refuses the rest."""
    return lambda walker, target: done if walker.nationally(permission) else DENIED


def user_administration(done: int = REDIRECT) -> Expect:
    """The pages about a member of staff exist for those who manage that member's organisation."""
    return lambda walker, target: done if walker.manages_users_of(target.organisation) else NOT_FOUND


def reads_declarations(walker: Walker, organisation: Organisation) -> bool:
    return walker.may(P.VIEW_ACHIEVEMENT, organisation) or walker.may(P.VIEW_FINANCE, organisation)


def declaration_page(walker: Walker, target: Target) -> int:
    return OK if reads_declarations(walker, target.organisation) else NOT_FOUND


def declaration_step(permission: Permission) -> Expect:
    """A step on a declaration waiting for it: 404 to those who cannot read it, done by those holding
    `permission` for its practice, refused (403) by the action to the rest."""

    def expect(walker: Walker, target: Target) -> int:
        if not reads_declarations(walker, target.organisation):
            return NOT_FOUND
        return REDIRECT if walker.may(permission, target.organisation) else DENIED

    return expect


def reads_declarations_anywhere(walker: Walker, target: Target) -> int:
    return OK if walker.holds(P.VIEW_ACHIEVEMENT) or walker.holds(P.VIEW_FINANCE) else NOT_FOUND


def bulk_declaration_step(permission: Permission) -> Expect:
    """A bulk step on every declaration the walker can see: the action refuses all of it unless the walker
    holds `permission` for each (and done, or refused with a message, when they do)."""

    def expect(walker: Walker, target: Target) -> int:
        if reads_declarations_anywhere(walker, target) == NOT_FOUND:
            return NOT_FOUND
        return REDIRECT if walker.holds(permission) else DENIED

    return expect


def manages_freezes(walker: Walker, target: Target) -> int:
    return REDIRECT if walker.nationally(P.SUPPORT) or walker.nationally(P.MANAGE_SERVICES) else NOT_FOUND


def manages_notices(walker: Walker, target: Target) -> int:
    return REDIRECT if walker.nationally(P.MANAGE_SERVICES) else NOT_FOUND


def the_notice(name: str) -> Callable[[World], list[Target]]:
    return lambda world: [Target(reverse(name, kwargs={"pk": world.notice.pk}), obj=world.notice)]


def notice_form(world: World, walker: Walker, target: Target) -> dict:
    return {"title": "The walk's notice", "body": "Read me again.", "audience": "everyone", "service": ""}


BULK_APPROVE = "declarations.actions.bulk_approve"


def every_declaration(step: str) -> Callable[[World, Walker, Target], dict]:
    return lambda world, walker, target: {
        "step": step,
        "declaration": [declaration.pk for declaration in world.declarations.values()],
    }


def post_only() -> Expect:
    return anyone(NOT_ALLOWED)


# The user-administration POSTs name no action: only those who manage a member's organisation can find the
# member at all, so the page's lookup and the action's check refuse the same people, and the walk cannot
# tell one from the other. tests/test_action_guards.py proves those actions' own checks directly.

# ---- POST data ----------------------------------------------------------------------------------------

_emails = itertools.count()


def invitation(world: World, walker: Walker, target: Target) -> dict:
    roles = roles_held_at(target.organisation.type)
    return {
        "full_name": "Walk Invitee",
        "email": f"invitee{next(_emails)}@nhs.net",
        "role": roles[0].key if roles else "",
    }


def invite_expect(walker: Walker, target: Target) -> int:
    """The form needs a role the organisation can hold; regions and PCNs hold none, so it is shown again."""
    organisation = target.organisation
    if not walker.sees(organisation):
        return NOT_FOUND
    if not roles_held_at(organisation.type):
        return OK
    return REDIRECT if walker.manages_users_of(organisation) else DENIED


def invite_page(walker: Walker, target: Target) -> int:
    if not walker.sees(target.organisation):
        return NOT_FOUND
    return OK if walker.manages_users_of(target.organisation) else DENIED


def offer_to_visible_practices(world: World, walker: Walker, target: Target) -> dict:
    dates = date_fields(**QOF2324_OFFER_DATES)
    practices = [str(p.pk) for p in world.practices if walker.sees(p)]
    return {"service_year": "QOF2324", "practices": practices, **dates}


def offer_create_expect(walker: Walker, target: Target) -> int:
    # Every walker sees some practice; only those commissioning all they see may offer to them.
    return REDIRECT if walker.holds(P.COMMISSION_SERVICES) else DENIED


def commissions_somewhere(walker: Walker, target: Target) -> int:
    return OK if walker.holds(P.COMMISSION_SERVICES) and walker.holder.type != T.PRACTICE else NOT_FOUND


def bulk_approve(world: World, walker: Walker, target: Target) -> dict:
    return {"transition": "approve", "offer": [offer.pk for offer in world.offers.values()]}


def grant_view_role(world: World, walker: Walker, target: Target) -> dict:
    return {"organisation": target.organisation.pk, "role": Role.FINANCE_VIEW.value}


def a_file(world: World, walker: Walker, target: Target) -> dict:
    upload = extract_file(world.year, world.year.end_date, world.practices[:1])
    return {"file": SimpleUploadedFile("walk-upload.csv", upload.read(), content_type="text/csv")}


def a_ruleset_file(world: World, walker: Walker, target: Target) -> dict:
    body = (
        "indicator_code,group_code,group_description,domain_code,points,kind,carries_register,patient_list,"
        "additional_patient_list,prevalence_adjusted,lower_threshold,upper_threshold,threshold_confidence\n"
        "QI001,QI,Quality improvement,QI,27,manual,0,TOTAL,,0,,,\n"
    )
    return {"service_year": "QOF2324", "file": SimpleUploadedFile("ruleset.csv", body.encode())}


def as_sent_unchanged(form) -> dict:
    """What a browser sends back for a form left as it was shown: a save that changes nothing, so that
    every walker's POST finds the world as the first found it."""
    from django import forms

    from accounts.nhsuk_forms import DateParts

    data = {}
    for name, form_field in form.fields.items():
        value = form[name].value()
        if isinstance(form_field.widget, DateParts):
            data |= date_fields(**{name: value}) if value else {}
        elif isinstance(form_field.widget, forms.CheckboxInput):
            data |= {name: "on"} if value else {}
        elif value is not None:
            data[name] = str(value)
    return data


def the_walk_year_unchanged(world: World, walker: Walker, target: Target) -> dict:
    from participation.forms import ServiceYearForm

    return as_sent_unchanged(ServiceYearForm(instance=type(world.year).objects.get(pk=world.year.pk)))


def a_declaration_window(world: World, walker: Walker, target: Target) -> dict:
    return date_fields(starts_on=world.year.end_date, ends_on=world.year.end_date) | {"note": "The walk"}


def the_first_indicator_unchanged(world: World, walker: Walker, target: Target) -> dict:
    from participation.forms import IndicatorForm

    return as_sent_unchanged(IndicatorForm(instance=world.year.indicators.get(pk=target.obj.pk)))


def the_walk_year(name: str, **kwargs) -> Callable[[World], list[Target]]:
    return lambda world: [Target(reverse(name, kwargs={"year": world.year.code, **kwargs}))]


def the_first_indicator(world: World) -> list[Target]:
    indicator = world.year.indicators.order_by("code").first()
    kwargs = {"year": world.year.code, "what": "indicator", "pk": indicator.pk}
    return [Target(reverse("participation:ruleset_value_edit", kwargs=kwargs), obj=indicator)]


def year_end_of_the_walk_year(world: World, walker: Walker, target: Target) -> dict:
    # Confirmed: the walk's year end has declarations a re-run could revert or flag.
    return {"service_year": world.year.code, "reason": "The walk", "confirm": "on"}


def recalculation(world: World, walker: Walker, target: Target) -> dict:
    return {
        "run_date": f"{world.year.code}|{world.year.end_date.isoformat()}",
        "reason": "The walk",
        "confirm": "on",
    }


def membership_change_expect(walker: Walker, target: Target) -> int:
    """Anyone who sees the practice sees its PCN memberships; its commissioner or national Service
    Management records a change, and the action refuses everyone else."""
    practice = target.organisation
    if practice.type != T.PRACTICE or not walker.may(P.VIEW_ORGANISATION, practice):
        return NOT_FOUND
    allowed = walker.may(P.COMMISSION_SERVICES, practice) or walker.nationally(P.MANAGE_SERVICES)
    return REDIRECT if allowed else DENIED


def membership_change(world: World, walker: Walker, target: Target) -> dict:
    """Into another PCN than the practice's own, from tomorrow (after the membership the import began)."""
    from django.utils import timezone

    from accounts.models import PcnMembership

    current = PcnMembership.objects.filter(practice=target.organisation, end_date__isnull=True).first()
    other = Organisation.objects.filter(type=T.PCN).exclude(pk=getattr(current, "pcn_id", None)).first()
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    return {"pcn": other.code, **date_fields(start_date=tomorrow)}


def payee_nomination_expect(walker: Walker, target: Target) -> int:
    """Anyone who sees the PCN (its commissioners, their ancestors, national) sees its nominations; its
    commissioner or national Service Management nominates, and the action refuses everyone else."""
    pcn = target.organisation
    if pcn.type != T.PCN or not walker.may(P.VIEW_ORGANISATION, pcn):
        return NOT_FOUND
    allowed = walker.may(P.COMMISSION_SERVICES, pcn) or walker.nationally(P.MANAGE_SERVICES)
    return REDIRECT if allowed else DENIED


def payee_nomination(world: World, walker: Walker, target: Target) -> dict:
    """A member of the PCN on the day, its payee from tomorrow (after the memberships the import began)."""
    from django.utils import timezone

    from accounts.models import PcnMembership

    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    member = PcnMembership.objects.filter(pcn=target.organisation).order_by("practice__code").first()
    return {"payee": member.practice.code if member else "", **date_fields(start_date=tomorrow)}


def prevalence_decision_expect(walker: Walker, target: Target) -> int:
    if not (walker.nationally(P.SUPPORT) or walker.nationally(P.MANAGE_SERVICES)):
        return NOT_FOUND
    return REDIRECT if walker.nationally(P.SUPPORT) else DENIED


ROUTES = [
    # home
    Route("home:index", one("home:index"), anyone()),
    Route("help:index", one("help:index"), anyone()),
    Route(
        "help:topic",
        lambda world: [Target(reverse("help:topic", kwargs={"topic": topic})) for topic in HELP_TOPICS],
        anyone(),
    ),
    Route("home:practice_list", one("home:practice_list"), anyone()),
    Route(
        "help:guidance_deadline",
        lambda world: [Target(reverse("help:guidance_deadline", kwargs={"page": page})) for page in GUIDANCE],
        anyone(),
    ),
    # Each user's own calendar link: anyone signed in makes and stops their own (the feed itself is public).
    Route("home:calendar", one("home:calendar"), anyone()),
    Route("home:calendar_feed", one("home:calendar_feed"), post_only(), [Post(anyone(REDIRECT))]),
    Route("home:calendar_feed_stop", one("home:calendar_feed_stop"), post_only(), [Post(anyone(REDIRECT))]),
    # Service notices: readers see theirs (the walk's notice is to everyone, so anyone may dismiss it);
    # only national Service Management reaches the pages that publish, change and archive, so the pages
    # and the actions refuse the same people: tests/test_action_guards.py proves the actions' own checks.
    Route("notices:list", one("notices:list"), anyone()),
    Route("notices:archive", one("notices:archive"), anyone()),
    Route(
        "notices:create",
        one("notices:create"),
        national_page(P.MANAGE_SERVICES),
        [Post(manages_notices, notice_form)],
    ),
    Route(
        "notices:edit",
        the_notice("notices:edit"),
        national_page(P.MANAGE_SERVICES),
        [Post(manages_notices, notice_form)],
    ),
    Route(
        "notices:archive_notice",
        the_notice("notices:archive_notice"),
        national_page(P.MANAGE_SERVICES),
        [Post(manages_notices)],
    ),
    Route("notices:dismiss", the_notice("notices:dismiss"), post_only(), [Post(anyone(REDIRECT))]),
    # accounts
    Route(
        "accounts:organisation_detail", each_organisation("accounts:organisation_detail"), organisation_page()
    ),
    Route(
        "accounts:invite_user",
        each_organisation("accounts:invite_user"),
        invite_page,
        [Post(invite_expect, invitation, "accounts.actions.create_user")],
    ),
    Route("accounts:user_detail", each_member("accounts:user_detail"), user_administration(OK)),
    Route(
        "accounts:grant_role",
        each_member("accounts:grant_role"),
        post_only(),
        [Post(user_administration(), grant_view_role)],
    ),
    Route(
        "accounts:confirm_grant",
        each_grant_request("accounts:confirm_grant"),
        post_only(),
        [Post(user_administration())],
    ),
    Route(
        "accounts:refuse_grant",
        each_grant_request("accounts:refuse_grant"),
        post_only(),
        [Post(user_administration())],
    ),
    Route(
        "accounts:end_role",
        each_member("accounts:end_role", with_membership=True),
        post_only(),
        [Post(user_administration())],
    ),
    Route(
        "accounts:lock_user",
        each_member("accounts:lock_user"),
        post_only(),
        [Post(user_administration())],
    ),
    Route(
        "accounts:unlock_user",
        each_member("accounts:unlock_user"),
        post_only(),
        [Post(user_administration())],
    ),
    Route(
        "accounts:reset_second_factor",
        each_member("accounts:reset_second_factor"),
        post_only(),
        [Post(user_administration())],
    ),
    Route(
        "accounts:retire_user",
        each_member("accounts:retire_user"),
        user_administration(OK),
        [Post(user_administration())],
    ),
    # notifications
    Route(
        "notifications:list",
        one("notifications:list"),
        anyone(),
        [Post(anyone(REDIRECT))],  # every user marks their own notifications read
    ),
    # participation
    Route(
        "participation:participation_list",
        one("participation:participation_list"),
        anyone(),
        [
            Post(
                lambda walker, target: REDIRECT if walker.holds(P.COMMISSION_SERVICES) else DENIED,
                bulk_approve,
                "participation.actions.approve_offers",
            )
        ],
    ),
    Route("participation:offer_list", one("participation:offer_list"), anyone()),
    Route(
        "participation:offer_create",
        one("participation:offer_create"),
        commissions_somewhere,
        [Post(offer_create_expect, offer_to_visible_practices, "participation.actions.offer_service")],
    ),
    Route(
        "participation:offer_detail",
        each_offer("participation:offer_detail"),
        organisation_page(),
        [
            Post(
                action_in_scope(P.MANAGE_PARTICIPATION),
                lambda world, walker, target: {"transition": "accept"},
                "participation.actions.accept_offer",
            ),
            Post(
                action_in_scope(P.MANAGE_PARTICIPATION),
                lambda world, walker, target: {"transition": "decline", "reason": "The walk"},
                "participation.actions.decline_offer",
            ),
            Post(
                action_in_scope(P.COMMISSION_SERVICES),
                lambda world, walker, target: {"transition": "withdraw"},
                "participation.actions.withdraw_offers",
            ),
        ],
    ),
    Route("participation:timetable", one("participation:timetable"), anyone()),
    Route(
        "participation:ruleset",
        lambda world: [Target(reverse("participation:ruleset", kwargs={"year": world.year.code}))],
        anyone(),
    ),
    Route(
        "participation:ruleset_upload",
        one("participation:ruleset_upload"),
        national_page(P.MANAGE_SERVICES),
        [Post(national_action(P.MANAGE_SERVICES), a_ruleset_file, "participation.actions.load_ruleset_file")],
    ),
    Route(
        "participation:service_years", one("participation:service_years"), national_page(P.MANAGE_SERVICES)
    ),
    Route(
        "participation:service_year",
        the_walk_year("participation:service_year"),
        national_page(P.MANAGE_SERVICES),
    ),
    Route(
        "participation:service_year_edit",
        the_walk_year("participation:service_year_edit"),
        national_page(P.MANAGE_SERVICES),
        [
            Post(
                national_action(P.MANAGE_SERVICES),
                the_walk_year_unchanged,
                "participation.actions.update_service_year",
            )
        ],
    ),
    Route(
        "participation:milestone_edit",
        the_walk_year("participation:milestone_edit", kind="declaration_window"),
        national_page(P.MANAGE_SERVICES),
        [
            Post(
                national_action(P.MANAGE_SERVICES),
                a_declaration_window,
                "participation.actions.set_milestone",
            )
        ],
    ),
    Route(
        "participation:ruleset_value_edit",
        the_first_indicator,
        national_page(P.MANAGE_SERVICES),
        [
            Post(
                national_action(P.MANAGE_SERVICES),
                the_first_indicator_unchanged,
                "participation.actions.update_indicator",
            )
        ],
    ),
    # extracts
    Route("extracts:extract_list", one("extracts:extract_list"), national_page(P.SUPPORT)),
    Route(
        "extracts:extract_upload",
        one("extracts:extract_upload"),
        national_page(P.SUPPORT),
        [Post(national_action(P.SUPPORT), a_file, "extracts.actions.receive_upload")],
    ),
    Route("extracts:extract_detail", the_extract("extracts:extract_detail"), national_page(P.SUPPORT)),
    Route("extracts:upload_detail", the_upload("extracts:upload_detail"), national_page(P.SUPPORT)),
    Route("extracts:upload_progress", the_upload("extracts:upload_progress"), national_page(P.SUPPORT)),
    # manual entry
    Route(
        "manual_entry:manual_entry_years",
        each_organisation("manual_entry:manual_entry_years"),
        organisation_page(P.VIEW_ACHIEVEMENT, {T.PRACTICE}),
    ),
    Route(
        "manual_entry:manual_entry",
        each_organisation("manual_entry:manual_entry", year=lambda world: world.year.code),
        organisation_page(P.VIEW_ACHIEVEMENT, {T.PRACTICE}),
        [
            Post(
                action_in_scope(P.ENTER_ACHIEVEMENT, seen_with=P.VIEW_ACHIEVEMENT, types={T.PRACTICE}),
                lambda world, walker, target: {MANUAL_INDICATOR: "yes"},
                "manual_entry.actions.enter_manual_answers",
            )
        ],
    ),
    Route(
        "manual_entry:set_missing_answers",
        lambda world: [Target(reverse("manual_entry:set_missing_answers", kwargs={"year": world.year.code}))],
        national_page(P.MANAGE_SERVICES),
        [Post(national_action(P.MANAGE_SERVICES), action="manual_entry.actions.set_missing_answers_to_yes")],
    ),
    # calculation runs
    Route("calculation:run_list", one("calculation:run_list"), national_page(P.SUPPORT, P.MANAGE_SERVICES)),
    Route(
        "calculation:start_year_end_run",
        one("calculation:start_year_end_run"),
        national_page(P.SUPPORT),
        [Post(national_action(P.SUPPORT), year_end_of_the_walk_year, "calculation.actions.start_run")],
    ),
    Route(
        "calculation:run_detail",
        the_run("calculation:run_detail"),
        national_page(P.SUPPORT, P.MANAGE_SERVICES),
    ),
    Route(
        "calculation:run_progress",
        the_run("calculation:run_progress"),
        national_page(P.SUPPORT, P.MANAGE_SERVICES),
    ),
    Route(
        "calculation:retry_run",
        the_run("calculation:retry_run"),
        national_page(P.SUPPORT, P.MANAGE_SERVICES),
        [
            Post(
                lambda walker, target: (
                    NOT_FOUND
                    if not (walker.nationally(P.SUPPORT) or walker.nationally(P.MANAGE_SERVICES))
                    else REDIRECT
                    if walker.nationally(P.SUPPORT)
                    else DENIED
                ),
                action="calculation.actions.retry_run",
            )
        ],
    ),
    Route(
        "calculation:prevalence_review",
        the_held_run("calculation:prevalence_review"),
        national_page(P.SUPPORT, P.MANAGE_SERVICES),
        [
            Post(
                prevalence_decision_expect,
                lambda world, walker, target: {"decision": "confirm", "note": "The walk"},
                "calculation.actions.confirm_prevalence",
            ),
            Post(
                prevalence_decision_expect,
                lambda world, walker, target: {"decision": "reject", "note": "The walk"},
                "calculation.actions.reject_prevalence",
            ),
        ],
    ),
    Route(
        "calculation:recalculate_practice",
        each_organisation("calculation:recalculate_practice"),
        lambda walker, target: (
            organisation_page(P.VIEW_ACHIEVEMENT, {T.PRACTICE})(walker, target)
            if walker.nationally(P.SUPPORT)
            else NOT_FOUND
        ),
        [
            Post(
                action_in_scope(P.SUPPORT, seen_with=P.VIEW_ACHIEVEMENT, types={T.PRACTICE}),
                recalculation,
                "calculation.actions.start_run",
            )
        ],
    ),
    Route(
        "calculation:pcn_membership",
        each_organisation("calculation:pcn_membership"),
        organisation_page(P.VIEW_ORGANISATION, {T.PRACTICE}),
        [Post(membership_change_expect, membership_change, "calculation.actions.change_pcn_membership")],
    ),
    Route(
        "calculation:pcn_payee",
        each_organisation("calculation:pcn_payee"),
        organisation_page(P.VIEW_ORGANISATION, {T.PCN}),
        [Post(payee_nomination_expect, payee_nomination, "calculation.actions.nominate_payee")],
    ),
    # reports
    # payments
    Route(
        "payments:statement",
        each_organisation("payments:statement"),
        organisation_page(P.VIEW_FINANCE, {T.PRACTICE}),
    ),
    Route(
        "payments:aspiration",
        each_organisation("payments:aspiration"),
        organisation_page(P.VIEW_FINANCE, {T.PRACTICE}),
        [
            Post(
                action_in_scope(P.MANAGE_FINANCE, seen_with=P.VIEW_FINANCE, types={T.PRACTICE}),
                lambda world, walker, target: {
                    "year": world.year.code,
                    "kind": "agreed",
                    "annual": "1000.00",
                    "reason": "Walk",
                },
                "payments.actions.set_aspiration_amount",
            )
        ],
    ),
    Route(
        "payments:write_off",
        lambda world: [
            Target(reverse("payments:write_off", kwargs={"code": "A00001"}), world.tree["A00001"])
        ],
        post_only(),
        [
            Post(
                action_in_scope(P.MANAGE_FINANCE, seen_with=P.VIEW_FINANCE, types={T.PRACTICE}),
                lambda world, walker, target: {
                    "reference": f"ADJ-{world.year.code}-A00001-WALK",
                    "reason": "Walk",
                },
                "payments.actions.write_off",
            )
        ],
    ),
    Route(
        "payments:commissioner",
        each_organisation("payments:commissioner"),
        organisation_page(P.VIEW_FINANCE, COMMISSIONER_OR_NATIONAL),
    ),
    Route(
        "payments:approve",
        each_organisation("payments:approve"),
        post_only(),
        [
            Post(
                action_in_scope(P.MANAGE_FINANCE, seen_with=P.VIEW_FINANCE, types={T.ICB, T.SUB_ICB}),
                lambda world, walker, target, what=what: {"year": world.year.code, "what": what},
                f"payments.actions.{action}",
            )
            for what, action in (
                ("aspiration", "approve_aspiration"),
                ("year_end", "approve_year_end"),
                ("adjustments", "approve_lines"),
            )
        ],
    ),
    Route(
        "payments:release",
        one("payments:release"),
        national_page(P.MANAGE_FINANCE),
        [Post(national_action(P.MANAGE_FINANCE), action="payments.actions.release")],
    ),
    Route(
        "payments:acknowledgement",
        one("payments:acknowledgement"),
        post_only(),
        [
            Post(
                national_action(P.MANAGE_FINANCE),
                lambda world, walker, target: {
                    "file": SimpleUploadedFile("ack.csv", b"LINE_REFERENCE,STATUS,REASON\r\n", "text/csv")
                },
                "payments.actions.import_acknowledgement",
            )
        ],
    ),
    Route(
        "payments:agency_file",
        lambda world: [Target(reverse("payments:agency_file", kwargs={"reference": _first_batch()}))],
        national_page(P.MANAGE_FINANCE),
    ),
    Route(
        "reports:practice_summary",
        each_organisation("reports:practice_summary"),
        organisation_page(P.VIEW_ACHIEVEMENT, {T.PRACTICE}),
    ),
    Route(
        "reports:explain_practice",
        each_organisation("reports:explain_practice"),
        organisation_page(P.VIEW_ACHIEVEMENT, {T.PRACTICE}),
    ),
    Route(
        "reports:explain_domain",
        each_organisation("reports:explain_domain", domain=lambda world: "QI"),
        organisation_page(P.VIEW_ACHIEVEMENT, {T.PRACTICE}),
    ),
    Route(
        "reports:explain_group",
        each_organisation("reports:explain_group", group=lambda world: "QI"),
        organisation_page(P.VIEW_ACHIEVEMENT, {T.PRACTICE}),
    ),
    Route(
        "reports:explain_indicator",
        each_organisation("reports:explain_indicator", indicator=lambda world: MANUAL_INDICATOR),
        organisation_page(P.VIEW_ACHIEVEMENT, {T.PRACTICE}),
    ),
    Route(
        "reports:opportunities",
        each_organisation("reports:opportunities"),
        organisation_page(P.VIEW_ACHIEVEMENT, {T.PRACTICE}),
    ),
    Route(
        "reports:forecast",
        each_organisation("reports:forecast"),
        organisation_page(P.VIEW_ACHIEVEMENT, {T.PRACTICE}),
    ),
    Route(
        "reports:commissioner_opportunities",
        each_organisation("reports:commissioner_opportunities"),
        organisation_page(P.VIEW_ACHIEVEMENT, {T.ICB, T.SUB_ICB}),
    ),
    Route(
        "reports:commissioner_forecast",
        each_organisation("reports:commissioner_forecast"),
        organisation_page(P.VIEW_ACHIEVEMENT, {T.ICB, T.SUB_ICB}),
    ),
    Route(
        "reports:provider_report",
        each_organisation("reports:provider_report"),
        organisation_page(P.VIEW_ACHIEVEMENT, COMMISSIONER_OR_NATIONAL),
    ),
    Route(
        "reports:publication_export",
        each_organisation("reports:publication_export"),
        organisation_page(P.VIEW_ACHIEVEMENT),
    ),
    Route(
        "reports:achieved_points_export",
        each_organisation("reports:achieved_points_export"),
        organisation_page(P.VIEW_ACHIEVEMENT),
    ),
    Route(
        "declarations:list",
        one("declarations:list"),
        reads_declarations_anywhere,
        [
            Post(bulk_declaration_step(P.APPROVE_DECLARATIONS), every_declaration("approve"), BULK_APPROVE),
            Post(
                bulk_declaration_step(P.MANAGE_FINANCE),
                every_declaration("financially_approve"),
                "declarations.actions.bulk_financially_approve",
            ),
        ],
    ),
    Route("declarations:detail", each_declaration("declarations:detail"), declaration_page),
    Route(
        "declarations:declare",
        the_declaration("declarations:declare", "A00001"),
        post_only(),
        [
            Post(
                declaration_step(P.DECLARE_ACHIEVEMENT),
                lambda world, walker, target: {"statement": "on", "notes": "The walk"},
                "declarations.actions.declare",
            )
        ],
    ),
    Route(
        "declarations:approve",
        the_declaration("declarations:approve", "A00002"),
        post_only(),
        [Post(declaration_step(P.APPROVE_DECLARATIONS), action="declarations.actions.approve")],
    ),
    Route(
        "declarations:financially_approve",
        the_declaration("declarations:financially_approve", "A00003"),
        post_only(),
        [Post(declaration_step(P.MANAGE_FINANCE), action="declarations.actions.financially_approve")],
    ),
    Route(
        "declarations:reject",
        the_declaration("declarations:reject", "A00002"),
        post_only(),
        [
            Post(
                declaration_step(P.APPROVE_DECLARATIONS),
                lambda world, walker, target: {"reason": "The walk"},
                "declarations.actions.reject",
            )
        ],
    ),
    Route("declarations:revision", the_revision("declarations:revision"), declaration_page),
    Route(
        "declarations:confirm_adjustment",
        the_revision("declarations:confirm_adjustment"),
        post_only(),
        [
            Post(
                lambda walker, target: (
                    NOT_FOUND
                    if not reads_declarations(walker, target.organisation)
                    else REDIRECT
                    if walker.may(P.APPROVE_DECLARATIONS, target.organisation)
                    or walker.may(P.MANAGE_FINANCE, target.organisation)
                    else DENIED
                ),
                lambda world, walker, target: {"note": "The walk"},
                "declarations.actions.confirm_adjustment",
            )
        ],
    ),
    # Last, so that the walk's freeze of its year stops no POST before it.
    Route(
        "declarations:freezes",
        one("declarations:freezes"),
        national_page(P.SUPPORT, P.MANAGE_SERVICES),
        # Both roles the page admits may freeze, so the page and the action refuse the same people and the
        # walk cannot tell them apart: tests/test_action_guards.py proves the action's own check.
        [
            Post(
                manages_freezes,
                lambda world, walker, target: {"service_year": world.year.code, "reason": "The walk"},
            )
        ],
    ),
    Route(
        "declarations:unfreeze",
        lambda world: [Target(reverse("declarations:unfreeze", kwargs={"pk": world.freeze.pk}))],
        post_only(),
        [Post(manages_freezes)],
    ),
]
