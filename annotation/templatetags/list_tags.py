"""Links for paged, searchable, sortable tables: they keep the table's other parameters.

``{% query_with page=3 %}`` gives ``?q=fox&page=3`` on a page opened with ``?q=fox&page=2``;
``{% sort_header "name" "File" %}`` gives a column heading that sorts by ``name`` (and the
other way round when it already does).
"""

from django import template
from django.utils.html import format_html

register = template.Library()


@register.simple_tag(takes_context=True)
def query_with(context, **changes) -> str:
    params = context["request"].GET.copy()
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.simple_tag(takes_context=True)
def sort_header(context, key: str, label: str, default: str = "") -> str:
    current = context["request"].GET.get("sort") or default
    if current == key:
        target, arrow, state = f"-{key}", " ▲", "ascending"
    elif current == f"-{key}":
        target, arrow, state = key, " ▼", "descending"
    else:
        target, arrow, state = key, "", "none"
    href = query_with(context, sort=target, page=None)
    return format_html(
        '<a href="{}" class="sort" aria-sort="{}">{}{}</a>', href, state, label, arrow
    )


@register.filter
def get_param(params, key: str) -> str:
    """``request.GET|get_param:"q"``: one request parameter, by a name held in a variable."""
    return params.get(key, "")


@register.filter
def words(value: str) -> str:
    """``"not_started"|words`` gives ``not started``."""
    return str(value).replace("_", " ")
