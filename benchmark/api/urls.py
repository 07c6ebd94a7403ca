from django.urls import path

from benchmark.api import views

app_name = "benchmark-api"

urlpatterns = [
    path("sweeps/", views.SweepListApi.as_view(), name="sweep_list"),
    path("sweeps/<int:pk>/", views.SweepDetailApi.as_view(), name="sweep_detail"),
    path("runs/<int:pk>/", views.RunDetailApi.as_view(), name="run_detail"),
    path("runs/<int:pk>/scoring/", views.RunScoringApi.as_view(), name="run_scoring"),
    path("scoring/<int:pk>/", views.ScoringJobApi.as_view(), name="scoring_detail"),
]
