from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.crypto import salted_hmac
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from .organisation_types import OrganisationType
from .roles import Permission, Role

__all__ = ["OrganisationType"]


class Organisation(models.Model):
    """One row of the organisation hierarchy: national → region → ICB → sub-ICB location → practice.

    A practice's parent is its sub-ICB location, the commissioner of record. PCNs hang off the sub-ICB
    location where most of their practices are; practices join PCNs through dated memberships.
    """

    code = models.CharField("ODS code", max_length=12, unique=True)
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=10, choices=OrganisationType.choices, db_index=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    ons_code = models.CharField("ONS code", max_length=12, blank=True)
    opened_on = models.DateField(null=True, blank=True)
    closed_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["code"]
        default_permissions = ()
        permissions = [(permission.value, permission.description) for permission in Permission]
        constraints = [
            models.CheckConstraint(
                condition=Q(closed_on__isnull=True)
                | Q(opened_on__isnull=True)
                | Q(closed_on__gte=F("opened_on")),
                name="organisation_closes_after_opening",
            ),
            models.CheckConstraint(
                condition=Q(type=OrganisationType.NATIONAL) | Q(parent__isnull=False),
                name="organisation_below_national_has_parent",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.code})"

    @property
    def is_commissioner(self) -> bool:
        return self.type in {OrganisationType.ICB, OrganisationType.SUB_ICB}


def in_force_on(on, via: str = "") -> Q:
    """A dated record (start_date, end_date, both days included, no end: open) in force on `on`: a date or a
    reference to one; `via` names the relation leading to the record ("pcn_memberships__")."""
    return Q(**{f"{via}start_date__lte": on}) & (
        Q(**{f"{via}end_date__isnull": True}) | Q(**{f"{via}end_date__gte": on})
    )


class PcnMembership(models.Model):
    practice = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="pcn_memberships")
    pcn = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="practice_memberships")
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["practice", "start_date"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")),
                name="pcn_membership_ends_after_start",
            ),
            models.UniqueConstraint(
                fields=["practice"], condition=Q(end_date__isnull=True), name="one_open_pcn_membership"
            ),
        ]

    def __str__(self):
        return f"{self.practice.code} in {self.pcn.code} from {self.start_date}"


class PortalUserManager(UserManager):
    def _create_user(self, username, email, password, **extra_fields):
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(None, email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(None, email, password, **extra_fields)


class User(AbstractUser):
    """A person who signs in with an NHS email address. Users are retired, never deleted."""

    username = None
    first_name = None
    last_name = None
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150)
    retired_at = models.DateTimeField(null=True, blank=True)
    # Raised whenever the account's standing changes (lock, unlock, retire, roles, second factor reset): it
    # is part of every session's hash, so each session signed in before the change ends.
    session_generation = models.PositiveIntegerField(default=0, editable=False)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    objects = PortalUserManager()

    class Meta:
        ordering = ["email"]

    def __str__(self):
        return self.email

    def get_full_name(self):
        return self.full_name

    def get_short_name(self):
        return self.full_name.split(" ")[0] if self.full_name else self.email

    def _get_session_auth_hash(self, secret=None):
        # Django's hash covers the password only; ours covers the session generation too.
        key_salt = "accounts.User.get_session_auth_hash"
        value = f"{self.password}:{self.session_generation}"
        return salted_hmac(key_salt, value, secret=secret, algorithm="sha256").hexdigest()


class Membership(models.Model):
    """A role held by a user at an organisation, from `started_at` until `ended_at`."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="memberships")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(max_length=40, choices=Role.choices)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["organisation__code", "role"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organisation", "role"],
                condition=Q(ended_at__isnull=True),
                name="one_active_membership_per_role",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")),
                name="membership_ends_after_start",
            ),
        ]

    def __str__(self):
        return f"{self.user} — {self.get_role_display()} at {self.organisation.code}"

    @property
    def is_active(self) -> bool:
        return self.ended_at is None


class RoleGrantRequest(models.Model):
    """An administrator's grant of a role that needs a second administrator (roles.CONFIRMED_ROLES)."""

    class Outcome(models.TextChoices):
        PENDING = "pending", "Waiting for a second administrator"
        CONFIRMED = "confirmed", "Confirmed"
        REFUSED = "refused", "Refused"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="grant_requests"
    )
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="grant_requests")
    role = models.CharField(max_length=40, choices=Role.choices)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organisation", "role"],
                condition=Q(outcome="pending"),
                name="one_pending_grant_per_role",
            ),
        ]

    def __str__(self):
        return f"{self.get_role_display()} for {self.user} at {self.organisation.code} ({self.outcome})"


class OrganisationUserObjectPermission(UserObjectPermissionBase):
    # Direct foreign keys (not generic ones) so permissions die with their organisation and join cheaply.
    content_object = models.ForeignKey(Organisation, on_delete=models.CASCADE)


class OrganisationGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Organisation, on_delete=models.CASCADE)


class AuditEvent(models.Model):
    """Append-only record of every change made through an action (a database trigger refuses edits).

    Tamper-evident as well: each event has a position in one chain and a keyed hash of its contents and of
    the previous event's hash (accounts.audit), so an edit, a gap or a truncation shows in `verify_audit`.
    """

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=80, db_index=True)
    object_type = models.CharField(max_length=80)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    position = models.BigIntegerField(unique=True, editable=False)
    previous_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        default_permissions = ("view",)
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self):
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.action} {self.object_repr}"


class AuditChainHead(models.Model):
    """The newest link of the audit chain: one row, locked while an event is chained, so events take
    positions one at a time. It also outlives a TRUNCATE of the events, which `verify_audit` then reports."""

    position = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    class Meta:
        default_permissions = ("view",)

    def __str__(self):
        return f"audit chain head at {self.position}"
