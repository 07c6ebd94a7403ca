"""`{% plotly_js_url %}`: the address of the plotly.js bundle every page with figures loads.

The cartesian partial bundle (analysis/vendor/), a third of the full one, served as a
static file: a hashed name and compression in production, so browsers cache it for good.
"""

from django import template
from django.templatetags.static import static

register = template.Library()

PLOTLY_JS = "vendor/plotly-cartesian.min.js"


@register.simple_tag
def plotly_js_url() -> str:
    return static(PLOTLY_JS)
