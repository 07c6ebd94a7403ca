#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys

# A deployment names its hosts (ALLOWED_HOSTS) or says DEBUG=0/1 itself (.env.example does
# both); either one means the environment is deliberate and is taken as it is.
DEPLOYMENT_MARKERS = ("DEBUG", "ALLOWED_HOSTS")


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "study_site.settings.base")
    # A bare checkout is a developer's machine: commands run in development mode with the
    # embedded defaults, as `demo` always did. Production settings stay strict: with
    # DEBUG=0 (or ALLOWED_HOSTS) and no SECRET_KEY the settings still refuse to load.
    if not any(name in os.environ for name in DEPLOYMENT_MARKERS):
        os.environ["DEBUG"] = "1"
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        _ = settings.INSTALLED_APPS  # load the settings now: a bad environment is one clear line
    except ImproperlyConfigured as exc:
        sys.exit(f"Settings error: {exc}")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
