"""Server-rendered researcher pages under /studies/: design, import, invite, progress."""
