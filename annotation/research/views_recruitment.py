"""The researcher's recruitment page: switch a crowd link on and see what to paste where."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from annotation.research import forms
from annotation.selectors.research import study_get_for_user
from annotation.services.crowd_exits import EXIT_COMPLETED, platform_exit
from annotation.services.payments import payment_csv
from annotation.services.recruitment import recruitment_links, recruitment_settings_update
from core.http import get_or_404
from core.permissions import staff_required


@staff_required
@require_http_methods(["GET", "POST"])
def study_recruitment(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_or_404(study_get_for_user, user=request.user, pk=pk)
    form = forms.RecruitmentForm(request.POST or None, instance=study)
    if request.method == "POST" and form.is_valid():
        fields = {name: form.cleaned_data[name] for name in form.Meta.fields}
        try:
            recruitment_settings_update(study=study, **fields)
        except ValidationError as exc:
            for message in exc.messages:
                form.add_error(None, message)
        else:
            messages.success(request, "Recruitment settings saved.")
            return redirect("research:study_recruitment", pk=study.pk)
    study.refresh_from_db()
    context = {"study": study, "form": form, "links": None, "exit": None}
    if study.recruitment_platform and study.recruitment_key:
        path = reverse("annotation:recruitment-entry", kwargs={"key": study.recruitment_key})
        context["links"] = recruitment_links(study=study, link=request.build_absolute_uri(path))
        context["exit"] = platform_exit(study=study, kind=EXIT_COMPLETED)
    return render(request, "annotation/research/recruitment.html", context)


@staff_required
@require_GET
def payment_list_csv(request: HttpRequest, pk: int) -> HttpResponse:
    """The owner's payment and approval list: the one page that shows raw platform IDs."""
    study = get_or_404(study_get_for_user, user=request.user, pk=pk)
    response = HttpResponse(payment_csv(study=study), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{study.slug}-payments.csv"'
    response["Cache-Control"] = "no-store"
    return response
