"""Django helpers shared by the site's apps: permissions, domain errors, their HTTP mapping.

It sits below ``annotation``, ``benchmark`` and ``study_site`` and imports none of them,
so every app may use it without an import pointing back up. Unlike ``common/`` (which the
Django-free libraries use too), this package may import Django.
"""
