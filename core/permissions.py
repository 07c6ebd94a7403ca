"""Who may see what: staff (researchers and admins) use the site; subjects only their session."""

from functools import wraps

from django.contrib.auth.decorators import user_passes_test
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render


def is_staff(user) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_staff)


def is_admin(user) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_superuser)


staff_required = user_passes_test(is_staff, login_url="login")


def admin_required(message: str):
    """Admins only: anonymous visitors are sent to sign in, other users get 403 `message`.

    Unlike `staff_required`, a signed-in researcher is told why instead of being sent to
    a login page they have already passed. The 403 page is rendered here rather than
    raised: an expected refusal is one warning line in the log, not a traceback.
    """

    def decorate(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not is_admin(request.user):
                return render(request, "403.html", {"exception": message}, status=403)
            return view(request, *args, **kwargs)

        return wrapped

    return decorate
