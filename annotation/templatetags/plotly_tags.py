"""`{% plotly_js_url %}`: the address of the plotly.js bundle every page with figures loads.

plotly.js with only the trace types our figures use (analysis/vendor/, a quarter of the
full bundle), served as a static file: a hashed name and compression in production, so
browsers cache it for good.
"""

from django import template
from django.templatetags.static import static

register = template.Library()

PLOTLY_JS = "vendor/plotly-custom.min.js"


@register.simple_tag
def plotly_js_url() -> str:
    return static(PLOTLY_JS)
