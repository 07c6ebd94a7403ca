from django.db import migrations

# PostgreSQL fires no row or statement trigger of 0010 on TRUNCATE: without this one, a
# `TRUNCATE annotation_rating` would leave every tally counting ratings that are gone.
# After a TRUNCATE no rating is left, so every tally is zero. SQLite has no TRUNCATE (its
# DELETE without WHERE fires the row triggers).

_PG_INSTALL = [
    """
CREATE OR REPLACE FUNCTION annotation_rating_tally_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE annotation_ratingsession SET rating_tally = 0, rating_last_id = 0
    WHERE rating_tally <> 0 OR rating_last_id <> 0;
    UPDATE annotation_stimulus SET rating_tally = 0 WHERE rating_tally <> 0;
    DELETE FROM annotation_sessionhourtally;
    RETURN NULL;
END
$$;
""",
    "CREATE TRIGGER annotation_rating_tally_truncate AFTER TRUNCATE ON annotation_rating "
    "FOR EACH STATEMENT EXECUTE FUNCTION annotation_rating_tally_truncate();",
]

_PG_REMOVE = [
    "DROP TRIGGER IF EXISTS annotation_rating_tally_truncate ON annotation_rating",
    "DROP FUNCTION IF EXISTS annotation_rating_tally_truncate()",
]


def truncate_trigger_install(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for statement in _PG_INSTALL:
            schema_editor.execute(statement)


def truncate_trigger_remove(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for statement in _PG_REMOVE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0011_api_token_scope"),
    ]

    operations = [
        migrations.RunPython(truncate_trigger_install, truncate_trigger_remove),
    ]
