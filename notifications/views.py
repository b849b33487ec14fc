from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from . import actions, selectors


@login_required
@require_http_methods(["GET", "POST"])
def notification_list(request):
    if request.method == "POST":
        actions.mark_notifications_read(by=request.user)
        return redirect("notifications:list")
    return render(
        request,
        "notifications/notifications.html",
        {"notifications": selectors.notifications_for(request.user)},
    )
