"""Who may see what: staff (researchers and admins) use the site; subjects only their session."""

from django.contrib.auth.decorators import user_passes_test


def is_staff(user) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_staff)


def is_admin(user) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_superuser)


staff_required = user_passes_test(is_staff, login_url="login")
