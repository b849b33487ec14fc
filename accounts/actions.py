"""Every write to organisations, users and memberships. Keyword-only, atomic, audited."""

from dataclasses import asdict, dataclass
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.auth.models import Permission as ModelPermission
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from guardian.shortcuts import assign_perm, remove_perm

from . import audit, second_factor, throttle
from .models import Membership, Organisation, PcnMembership, RoleGrantRequest, User
from .models import OrganisationType as T
from .organisation_import import OrganisationFileError, OrganisationMapping
from .permissions import (
    Permission,
    either,
    forget_granted_permissions,
    guarded,
    manages_users_at,
    may_manage_users,
    may_nationally,
    nationally,
)
from .roles import ADMIN_ROLES, CATALOGUE, CONFIRMED_ROLES, SEPARATED_DUTIES
from .tokens import invitation_token_generator

ADMIN_GROUP = "National staff"


def _validate_email_domain(email: str) -> str:
    email = email.strip().lower()
    domain = email.rpartition("@")[2]
    allowed = settings.ALLOWED_EMAIL_DOMAINS
    if not any(domain == d or domain.endswith("." + d) for d in allowed):
        raise ValidationError(
            f"Use an NHS email address ending in {' or '.join('@' + d for d in allowed)}.",
            code="email_domain",
        )
    return email


def _current_organisations(user: User) -> list[Organisation]:
    return [
        m.organisation for m in user.memberships.filter(ended_at__isnull=True).select_related("organisation")
    ]


def _manages_every_organisation_of_user(by, kwargs) -> bool:
    """Account-wide changes (retire, lock, reset the second factor) need authority over every organisation
    the user belongs to, or national support."""
    organisations = _current_organisations(kwargs["user"])
    return may_nationally(by, Permission.SUPPORT) or (
        bool(organisations) and all(may_manage_users(by, organisation) for organisation in organisations)
    )


def _not_about_themselves(check, path: str = "user"):
    """Nobody manages their own account: a self-grant or self-unlock is refused whatever else they hold."""

    def guard(by, kwargs) -> bool:
        subject = _follow_path(kwargs, path)
        return subject is not None and subject.pk != by.pk and check(by, kwargs)

    return guard


def _follow_path(kwargs, path: str):
    name, *attributes = path.split(".")
    value = kwargs.get(name)
    for attribute in attributes:
        value = getattr(value, attribute, None)
    return value


def _end_sessions(user: User) -> None:
    """End every session the user has signed in with (see User.session_generation)."""
    User.objects.filter(pk=user.pk).update(session_generation=F("session_generation") + 1)
    user.refresh_from_db(fields=["session_generation"])


@guarded(manages_users_at("organisation"))
@transaction.atomic
def create_user(
    *, email: str, full_name: str, organisation: Organisation, role: str, by, request=None
) -> User:
    """Invite someone to the organisation with a role, and email them.

    Someone new is registered and sent a link to set their password. Someone who already has an account
    (anywhere in the country) is given the role here and told so by email. The administrator is told the
    same either way, so the form never reveals who has an account or where else they work. A retired
    account is given nothing, and that is audited.
    """
    email = _validate_email_domain(email)
    _count_invitation(by)
    existing = User.objects.filter(email=email).first()
    if existing is not None:
        return _invite_existing(user=existing, organisation=organisation, role=role, by=by, request=request)
    user = User.objects.create_user(email=email, full_name=full_name.strip())
    user.set_unusable_password()
    user.save(update_fields=["password"])
    audit.record(
        actor=by, action="user.created", obj=user, after={"email": email, "full_name": user.full_name}
    )
    _grant_or_request(user=user, organisation=organisation, role=role, by=by)
    transaction.on_commit(lambda: _send_invitation(user=user, request=request))
    return user


def _invite_existing(*, user: User, organisation: Organisation, role: str, by, request=None) -> User:
    if by is not None and user.pk == by.pk:
        raise PermissionDenied("Nobody gives themselves a role.")
    if user.retired_at is not None:
        audit.record(
            actor=by,
            action="user.invitation_refused",
            obj=user,
            after={"reason": "retired", "role": role, "organisation": organisation.code},
        )
        return user
    granted = _grant_or_request(user=user, organisation=organisation, role=role, by=by)
    pending = isinstance(granted, RoleGrantRequest)
    transaction.on_commit(
        lambda: _send_role_email(
            user=user, organisation=organisation, role=role, pending=pending, request=request
        )
    )
    return user


def _send_role_email(
    *, user: User, organisation: Organisation, role: str, pending: bool, request=None
) -> None:
    path = reverse("home:index")
    link = request.build_absolute_uri(path) if request is not None else settings.PORTAL_BASE_URL + path
    context = {
        "user": user,
        "organisation": organisation,
        "role": CATALOGUE[role],
        "pending": pending,
        "link": link,
    }
    body = render_to_string("accounts/email/role_given.txt", context)
    send_mail(f"Your {settings.SERVICE_NAME} roles", body, None, [user.email])


def _count_invitation(by) -> None:
    if by is None:
        return
    limit = throttle.Limit("invitations", settings.INVITATIONS_PER_HOUR, 60 * 60)
    until = throttle.allow(limit, str(by.pk))
    if until is not None:
        raise ValidationError(
            f"You have sent {settings.INVITATIONS_PER_HOUR} invitations in the last hour. "
            f"Try again after {timezone.localtime(until):%H:%M}.",
            code="throttled",
        )


def _send_invitation(*, user: User, request=None) -> None:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    path = reverse(
        "invitation_confirm", kwargs={"uidb64": uid, "token": invitation_token_generator.make_token(user)}
    )
    link = request.build_absolute_uri(path) if request is not None else path
    body = render_to_string("accounts/email/invitation.txt", {"user": user, "link": link})
    send_mail(f"Your {settings.SERVICE_NAME} account", body, None, [user.email])


@guarded(_not_about_themselves(manages_users_at("organisation")))
@transaction.atomic
def grant_role(*, user: User, organisation: Organisation, role: str, by) -> Membership | RoleGrantRequest:
    """Give a role now, or, for a role that moves money or reaches the whole country, ask a second
    administrator to confirm it (the system, by=None, grants directly: the demo and the tests)."""
    return _grant_or_request(user=user, organisation=organisation, role=role, by=by)


def _grant_or_request(*, user, organisation, role, by) -> Membership | RoleGrantRequest:
    _check_grant(user=user, organisation=organisation, role=role)
    if by is None or role not in CONFIRMED_ROLES:
        return _grant_role(user=user, organisation=organisation, role=role, by=by)
    if Membership.objects.filter(user=user, organisation=organisation, role=role, ended_at__isnull=True):
        raise ValidationError("They already hold this role there.", code="held")
    pending = RoleGrantRequest.objects.filter(
        user=user, organisation=organisation, role=role, outcome=RoleGrantRequest.Outcome.PENDING
    ).first()
    if pending is not None:
        return pending
    grant_request = RoleGrantRequest.objects.create(
        user=user, organisation=organisation, role=role, requested_by=by
    )
    audit.record(
        actor=by,
        action="membership.requested",
        obj=grant_request,
        after={"user": user.email, "role": role, "organisation": organisation.code},
    )
    return grant_request


def _second_administrator(by, kwargs) -> bool:
    """Confirming needs an administrator of the organisation who neither asked for the grant nor gets it."""
    grant_request = kwargs["grant_request"]
    return by.pk not in {grant_request.requested_by_id, grant_request.user_id} and may_manage_users(
        by, grant_request.organisation
    )


@guarded(_second_administrator)
@transaction.atomic
def confirm_role_grant(*, grant_request: RoleGrantRequest, by) -> Membership:
    grant_request = _pending(grant_request)
    _check_grant(user=grant_request.user, organisation=grant_request.organisation, role=grant_request.role)
    _decide(grant_request, RoleGrantRequest.Outcome.CONFIRMED, by)
    return _grant_role(
        user=grant_request.user, organisation=grant_request.organisation, role=grant_request.role, by=by
    )


@guarded(_not_about_themselves(manages_users_at("grant_request.organisation"), "grant_request.user"))
@transaction.atomic
def refuse_role_grant(*, grant_request: RoleGrantRequest, by) -> RoleGrantRequest:
    """Any administrator of the organisation may refuse (or, if they asked, withdraw) a pending grant."""
    return _decide(_pending(grant_request), RoleGrantRequest.Outcome.REFUSED, by)


def _pending(grant_request: RoleGrantRequest) -> RoleGrantRequest:
    grant_request = RoleGrantRequest.objects.select_for_update().get(pk=grant_request.pk)
    if grant_request.outcome != RoleGrantRequest.Outcome.PENDING:
        raise ValidationError("This grant has already been decided.", code="decided")
    return grant_request


def _decide(grant_request: RoleGrantRequest, outcome, by) -> RoleGrantRequest:
    grant_request.outcome = outcome
    grant_request.decided_by = by
    grant_request.decided_at = timezone.now()
    grant_request.save(update_fields=["outcome", "decided_by", "decided_at"])
    audit.record(
        actor=by,
        action=f"membership.{outcome}",
        obj=grant_request,
        before={"outcome": RoleGrantRequest.Outcome.PENDING},
        after={"outcome": outcome},
    )
    return grant_request


def _check_grant(*, user: User, organisation: Organisation, role: str) -> None:
    definition = CATALOGUE.get(role)
    if definition is None:
        raise ValidationError(f"Unknown role {role!r}.", code="unknown_role")
    if organisation.type not in definition.holders:
        raise ValidationError(
            f"{definition.name} cannot be held at a {organisation.get_type_display()}.", code="wrong_holder"
        )
    if user.retired_at is not None:
        raise ValidationError("A retired user cannot be given roles.", code="retired")
    if role in SEPARATED_DUTIES and not settings.ALLOW_APPROVAL_AND_FINANCE_TOGETHER:
        others = SEPARATED_DUTIES - {role}
        if Membership.objects.filter(
            user=user, organisation=organisation, role__in=others, ended_at__isnull=True
        ).exists():
            raise ValidationError(
                "One person may not both approve declarations and manage finance at the same "
                "commissioner. End the other role first.",
                code="separated_duties",
            )


def _grant_role(*, user: User, organisation: Organisation, role: str, by) -> Membership:
    _check_grant(user=user, organisation=organisation, role=role)
    existing = Membership.objects.filter(
        user=user, organisation=organisation, role=role, ended_at__isnull=True
    )
    if existing.exists():
        return existing.get()
    membership = Membership.objects.create(user=user, organisation=organisation, role=role, granted_by=by)
    _sync_object_permissions(user=user, organisation=organisation)
    _sync_admin_access(user=user)
    _end_sessions(user)
    audit.record(
        actor=by,
        action="membership.granted",
        obj=membership,
        after={"role": role, "organisation": organisation.code},
    )
    return membership


@guarded(manages_users_at("membership.organisation"))
@transaction.atomic
def end_membership(*, membership: Membership, by) -> Membership:
    return _end_membership(membership=membership, by=by)


def _end_membership(*, membership: Membership, by) -> Membership:
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if membership.ended_at is not None:
        return membership
    membership.ended_at = timezone.now()
    membership.ended_by = by if by is not None and by.is_authenticated else None
    membership.save(update_fields=["ended_at", "ended_by"])
    _sync_object_permissions(user=membership.user, organisation=membership.organisation)
    _sync_admin_access(user=membership.user)
    _end_sessions(membership.user)
    audit.record(
        actor=by,
        action="membership.ended",
        obj=membership,
        before={"role": membership.role, "organisation": membership.organisation.code},
    )
    return membership


@guarded(_manages_every_organisation_of_user)
@transaction.atomic
def retire_user(*, user: User, by) -> User:
    """End every role and lock the account for good; the row stays for the audit trail."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.retired_at is not None:
        return user
    for membership in user.memberships.filter(ended_at__isnull=True).select_related("organisation"):
        _end_membership(membership=membership, by=by)
    user.is_active = False
    user.retired_at = timezone.now()
    user.set_unusable_password()
    user.save(update_fields=["is_active", "retired_at", "password"])
    _end_sessions(user)
    audit.record(
        actor=by, action="user.retired", obj=user, before={"is_active": True}, after={"is_active": False}
    )
    return user


@guarded(_not_about_themselves(_manages_every_organisation_of_user))
@transaction.atomic
def set_user_locked(*, user: User, locked: bool, by) -> User:
    """Locking is account-wide, so it needs authority over every organisation the user belongs to: one
    organisation's administrator ends the user's roles there instead."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.retired_at is not None:
        raise ValidationError("A retired user cannot be unlocked.", code="retired")
    before = user.is_active
    user.is_active = not locked
    user.save(update_fields=["is_active"])
    _end_sessions(user)
    audit.record(
        actor=by,
        action="user.locked" if locked else "user.unlocked",
        obj=user,
        before={"is_active": before},
        after={"is_active": user.is_active},
    )
    return user


def _sync_object_permissions(*, user: User, organisation: Organisation) -> None:
    """Make the user's guardian permissions on `organisation` exactly those its active roles grant."""
    wanted = set()
    for role in Membership.objects.filter(
        user=user, organisation=organisation, ended_at__isnull=True
    ).values_list("role", flat=True):
        wanted |= CATALOGUE[role].all_permissions()
    held = set(
        user.organisationuserobjectpermission_set.filter(content_object=organisation).values_list(
            "permission__codename", flat=True
        )
    )
    for codename in wanted - held:
        assign_perm(f"accounts.{codename}", user, organisation)
    for codename in held - wanted:
        remove_perm(f"accounts.{codename}", user, organisation)
    forget_granted_permissions(user)


def _sync_admin_access(*, user: User) -> None:
    """National roles open the Django admin with read access to every model and write access as granted."""
    national = user.memberships.filter(ended_at__isnull=True, role__in=ADMIN_ROLES).exists()
    if national == user.is_staff and (not national or user.groups.filter(name=ADMIN_GROUP).exists()):
        return
    group = _admin_group()
    if national:
        user.groups.add(group)
    else:
        user.groups.remove(group)
    user.is_staff = national
    user.save(update_fields=["is_staff"])


def _admin_group() -> Group:
    """The group national staff share; it is given view access to every model, including ones added since."""
    group, _ = Group.objects.get_or_create(name=ADMIN_GROUP)
    group.permissions.set(ModelPermission.objects.filter(codename__startswith="view_"))
    return group


@dataclass(frozen=True)
class ImportSummary:
    created: int
    updated: int
    unchanged: int
    memberships_started: int
    memberships_ended: int

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.memberships_started or self.memberships_ended)


_TREE_ORDER = [T.NATIONAL, T.REGION, T.ICB, T.SUB_ICB, T.PCN, T.PRACTICE]
_SYNCED_FIELDS = ["name", "parent_id", "ons_code"]


@guarded(either(nationally(Permission.SUPPORT), nationally(Permission.MANAGE_SERVICES)))
@transaction.atomic
def import_organisations(*, mapping: OrganisationMapping, effective_date: date, by) -> ImportSummary:
    """Bring organisations and PCN memberships in line with a validated mapping, in bulk.

    Re-importing the same mapping changes nothing. A practice that moves PCN has its old membership end the
    day before `effective_date`. Organisations absent from the file are left as they are: a partial file
    must not close the rest of the country.
    """
    by_code = {organisation.code: organisation for organisation in Organisation.objects.all()}
    created = updated = unchanged = 0
    problems = []
    rows_by_type = {organisation_type: [] for organisation_type in _TREE_ORDER}
    for row in mapping.organisations:
        rows_by_type[row.type].append(row)
    for organisation_type in _TREE_ORDER:
        new, changed = [], []
        for row in rows_by_type[organisation_type]:
            parent_id = by_code[row.parent_code].pk if row.parent_code else None
            existing = by_code.get(row.code)
            if existing is None:
                new.append(
                    Organisation(
                        code=row.code,
                        name=row.name,
                        type=row.type,
                        parent_id=parent_id,
                        ons_code=row.ons_code,
                    )
                )
            elif existing.type != row.type:
                problems.append(f"{row.code} is a {existing.get_type_display()} here, not a {row.type}")
            elif (existing.name, existing.parent_id, existing.ons_code) != (
                row.name,
                parent_id,
                row.ons_code,
            ):
                existing.name, existing.parent_id, existing.ons_code = row.name, parent_id, row.ons_code
                changed.append(existing)
            else:
                unchanged += 1
        if problems:
            raise OrganisationFileError(problems)
        for organisation in Organisation.objects.bulk_create(new, batch_size=2000):
            by_code[organisation.code] = organisation
        Organisation.objects.bulk_update(changed, _SYNCED_FIELDS, batch_size=2000)
        created += len(new)
        updated += len(changed)

    started, ended = _sync_pcn_memberships(mapping=mapping, by_code=by_code, effective_date=effective_date)
    summary = ImportSummary(created, updated, unchanged, started, ended)
    if summary.changed:
        national = next(o for o in by_code.values() if o.type == T.NATIONAL)
        audit.record(actor=by, action="organisations.imported", obj=national, after=asdict(summary))
    return summary


def _sync_pcn_memberships(*, mapping, by_code, effective_date: date) -> tuple[int, int]:
    open_memberships = {m.practice_id: m for m in PcnMembership.objects.filter(end_date__isnull=True)}
    practices = [row for row in mapping.organisations if row.type == T.PRACTICE]
    to_end, to_start, to_move = [], [], []
    for row in practices:
        practice_id = by_code[row.code].pk
        wanted_pcn = mapping.practice_pcn.get(row.code)
        wanted_pcn_id = by_code[wanted_pcn].pk if wanted_pcn else None
        current = open_memberships.get(practice_id)
        if current is not None and current.pcn_id == wanted_pcn_id:
            continue
        if current is not None and current.start_date >= effective_date:
            # Corrected on or before the day it began: fix the membership rather than add a one-day history.
            if wanted_pcn_id is None:
                current.end_date = current.start_date
                to_end.append(current)
            else:
                current.pcn_id = wanted_pcn_id
                to_move.append(current)
            continue
        if current is not None:
            current.end_date = effective_date - timedelta(days=1)
            to_end.append(current)
        if wanted_pcn_id is not None:
            to_start.append(
                PcnMembership(practice_id=practice_id, pcn_id=wanted_pcn_id, start_date=effective_date)
            )
    PcnMembership.objects.bulk_update(to_end, ["end_date"], batch_size=2000)
    PcnMembership.objects.bulk_update(to_move, ["pcn_id"], batch_size=2000)
    PcnMembership.objects.bulk_create(to_start, batch_size=2000)
    return len(to_start) + len(to_move), len(to_end)


def _own_device(by, kwargs) -> bool:
    return by.is_authenticated and kwargs["device"].user_id == by.pk


@guarded(_own_device)
@transaction.atomic
def enrol_second_factor(*, device, token: str, by) -> list[str] | None:
    """Confirm the authenticator being set up with a code from it; its backup codes, or None if the code
    is wrong. Codes are returned once, to be shown once."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
    if device.confirmed or not device.verify_token(token.strip().replace(" ", "")):
        return None
    TOTPDevice.objects.filter(user=device.user, confirmed=True).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = second_factor.new_backup_codes(device.user)
    audit.record(
        actor=by, action="auth.second_factor_enrolled", obj=device.user, after={"device": device.name}
    )
    return codes


@guarded(_not_about_themselves(_manages_every_organisation_of_user))
@transaction.atomic
def reset_second_factor(*, user: User, by) -> User:
    """A lost phone: remove the user's authenticator and backup codes, so they enrol again at their next
    sign-in, and end their sessions. Needs authority over the whole account, like locking."""
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    removed = (
        TOTPDevice.objects.filter(user=user).delete()[0] + StaticDevice.objects.filter(user=user).delete()[0]
    )
    _end_sessions(user)
    audit.record(
        actor=by,
        action="auth.second_factor_reset",
        obj=user,
        before={"devices": removed},
        after={"devices": 0},
    )
    return user
