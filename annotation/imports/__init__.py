"""Image-set and external-database imports: validate everything, then write everything.

Nothing here touches the database or MEDIA_ROOT; `annotation.services.imports` does the
writing once a whole import has passed validation.
"""
