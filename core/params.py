"""Reading free-text request parameters (search boxes, filters) the same way everywhere."""


def text_param(params, name: str, limit: int) -> str:
    """``params[name]`` stripped and cut to ``limit`` characters; "" when absent.

    NUL characters are dropped: PostgreSQL text cannot hold them, so a search for one
    would fail in the database instead of finding nothing.
    """
    return (params.get(name) or "").replace("\x00", "").strip()[:limit]
