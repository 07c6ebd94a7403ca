"""`{% plotly_js_url %}`: the address of plotly.js, served from the installed package.

The version is in the address so browsers may cache the file for a year; every page
with figures asks here instead of passing the version through its view.
"""

from django import template
from django.urls import reverse

register = template.Library()


@register.simple_tag
def plotly_js_url() -> str:
    import plotly

    return reverse("research:plotly_js", args=[plotly.__version__])
