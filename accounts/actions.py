"""Every write to organisations, users and memberships. Keyword-only, atomic, audited."""

from dataclasses import asdict, dataclass
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.auth.models import Permission as ModelPermission
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from guardian.shortcuts import assign_perm, remove_perm

from . import audit
from .models import Membership, Organisation, PcnMembership, User
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
from .roles import ADMIN_ROLES, CATALOGUE

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


def _manages_any_organisation_of_user(by, kwargs) -> bool:
    return may_nationally(by, Permission.SUPPORT) or any(
        may_manage_users(by, organisation) for organisation in _current_organisations(kwargs["user"])
    )


def _manages_every_organisation_of_user(by, kwargs) -> bool:
    """Retiring ends every role, so it needs authority over every organisation the user belongs to."""
    organisations = _current_organisations(kwargs["user"])
    return may_nationally(by, Permission.SUPPORT) or (
        bool(organisations) and all(may_manage_users(by, organisation) for organisation in organisations)
    )


@guarded(manages_users_at("organisation"))
@transaction.atomic
def create_user(
    *, email: str, full_name: str, organisation: Organisation, role: str, by, request=None
) -> User:
    """Register a user with a first role and email them a link to set their password."""
    email = _validate_email_domain(email)
    if User.objects.filter(email=email).exists():
        raise ValidationError("A user with this email address already exists.", code="duplicate")
    user = User.objects.create_user(email=email, full_name=full_name.strip())
    user.set_unusable_password()
    user.save(update_fields=["password"])
    audit.record(
        actor=by, action="user.created", obj=user, after={"email": email, "full_name": user.full_name}
    )
    _grant_role(user=user, organisation=organisation, role=role, by=by)
    transaction.on_commit(lambda: _send_invitation(user=user, request=request))
    return user


def _send_invitation(*, user: User, request=None) -> None:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    path = reverse(
        "password_reset_confirm", kwargs={"uidb64": uid, "token": default_token_generator.make_token(user)}
    )
    link = request.build_absolute_uri(path) if request is not None else path
    body = render_to_string("accounts/email/invitation.txt", {"user": user, "link": link})
    send_mail(f"Your {settings.SERVICE_NAME} account", body, None, [user.email])


@guarded(manages_users_at("organisation"))
@transaction.atomic
def grant_role(*, user: User, organisation: Organisation, role: str, by) -> Membership:
    return _grant_role(user=user, organisation=organisation, role=role, by=by)


def _grant_role(*, user: User, organisation: Organisation, role: str, by) -> Membership:
    definition = CATALOGUE.get(role)
    if definition is None:
        raise ValidationError(f"Unknown role {role!r}.", code="unknown_role")
    if organisation.type not in definition.holders:
        raise ValidationError(
            f"{definition.name} cannot be held at a {organisation.get_type_display()}.", code="wrong_holder"
        )
    if user.retired_at is not None:
        raise ValidationError("A retired user cannot be given roles.", code="retired")
    existing = Membership.objects.filter(
        user=user, organisation=organisation, role=role, ended_at__isnull=True
    )
    if existing.exists():
        return existing.get()
    membership = Membership.objects.create(user=user, organisation=organisation, role=role, granted_by=by)
    _sync_object_permissions(user=user, organisation=organisation)
    _sync_admin_access(user=user)
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
    audit.record(
        actor=by, action="user.retired", obj=user, before={"is_active": True}, after={"is_active": False}
    )
    return user


@guarded(_manages_any_organisation_of_user)
@transaction.atomic
def set_user_locked(*, user: User, locked: bool, by) -> User:
    if user.retired_at is not None:
        raise ValidationError("A retired user cannot be unlocked.", code="retired")
    before = user.is_active
    user.is_active = not locked
    user.save(update_fields=["is_active"])
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
