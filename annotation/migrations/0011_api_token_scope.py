from django.db import migrations, models

SCOPES = [("read", "read only"), ("write", "read and write")]


class Migration(migrations.Migration):
    """Tokens made before scopes existed could write; they keep that (default "write" for
    the rows already there), while new tokens are read-only unless asked otherwise."""

    dependencies = [
        ("annotation", "0010_rating_tallies"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="scope",
            field=models.CharField(choices=SCOPES, default="write", max_length=5),
        ),
        migrations.AlterField(
            model_name="apitoken",
            name="scope",
            field=models.CharField(choices=SCOPES, default="read", max_length=5),
        ),
    ]
