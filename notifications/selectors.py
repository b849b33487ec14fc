from django.db.models import QuerySet

from .models import Notification

SHOWN = 100


def notifications_for(user) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user).select_related("organisation")[:SHOWN]


def unread_notifications(user) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user, read_at__isnull=True)
