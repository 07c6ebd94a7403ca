"""Every write to the annotation domain goes through a function in this package."""
