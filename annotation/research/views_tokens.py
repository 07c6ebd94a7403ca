"""Personal API tokens: create (the token is shown once, on the answer to the POST), list
and revoke. Each researcher sees only their own tokens."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from annotation.research.forms import ApiTokenForm
from annotation.selectors.api_tokens import api_token_get_for_user, api_tokens_for_user
from annotation.selectors.research import studies_visible_to
from annotation.services.api_tokens import api_token_create, api_token_revoke
from core.http import get_or_404
from core.permissions import staff_required


@staff_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            record, token = api_token_create(
                user=request.user,
                name=form.cleaned_data["name"],
                scope=form.cleaned_data["scope"],
            )
        except ValidationError as exc:
            form.add_error(None, " ".join(exc.messages))
        else:
            created = {"record": record, "token": token}
            form = ApiTokenForm()
    example = studies_visible_to(user=request.user).order_by("-created_at").first()
    context = {
        "form": form,
        "created": created,
        "tokens": api_tokens_for_user(user=request.user),
        "api_root": request.build_absolute_uri(reverse("api:study_list")),
        "example_study": example,
    }
    response = render(request, "annotation/research/api_tokens.html", context)
    response["Cache-Control"] = "no-store"  # the page may hold a token shown once
    return response


@staff_required
@require_POST
def api_token_revoke_view(request: HttpRequest, token_pk: int) -> HttpResponse:
    token = get_or_404(api_token_get_for_user, user=request.user, pk=token_pk)
    api_token_revoke(token=token)
    messages.success(request, f"Token “{token.name}” revoked; requests using it are now refused.")
    return redirect("api_tokens")
