from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from annotation.selectors import study_list_for_user
from study_site.permissions import staff_required


@staff_required
def dashboard_home(request: HttpRequest) -> HttpResponse:
    studies = study_list_for_user(user=request.user)
    return render(request, "dashboard/home.html", {"studies": studies})


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
