"""Releases imported before release_write existed have no stored release.json: write it.

Downloads now stream the stored sidecar of every release (no derived special case), so an
external release imported earlier gets its sidecar here, from the same builder.
"""

from django.db import migrations


def sidecars_write(apps, schema_editor):
    # The real model and builder, not the historical ones: the sidecar needs the same
    # methods (usernames, column docs) a new release gets.
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from annotation.models import LabelRelease
    from annotation.services.release_formats import sidecar_bytes, sidecar_name

    # Only the columns the sidecar reads, so a column added by a later migration is not asked for.
    fields = ("study__slug", "study__name", "created_by", "version", "source", "created_at")
    fields += ("mos_file", "mos_sha256", "raw_file", "raw_sha256", "method_config", "counts")
    external = LabelRelease.objects.filter(source=LabelRelease.Source.EXTERNAL)
    for release in external.select_related("study").only(*fields):
        name = sidecar_name(release=release)
        if not default_storage.exists(name) and default_storage.exists(release.mos_file.name):
            default_storage.save(name, ContentFile(sidecar_bytes(release)))


class Migration(migrations.Migration):
    dependencies = [("annotation", "0003_analysisrun")]

    operations = [migrations.RunPython(sidecars_write, migrations.RunPython.noop)]
