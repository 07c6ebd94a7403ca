from django.urls import path

from benchmark import views

app_name = "benchmark"

urlpatterns = [
    path("", views.sweep_list, name="sweep_list"),
    path("new/", views.sweep_new, name="sweep_new"),
    path("sweeps/<int:pk>/", views.sweep_detail, name="sweep_detail"),
    path("sweeps/<int:pk>/status.json", views.sweep_status_json, name="sweep_status"),
    path("sweeps/<int:pk>/cancel/", views.sweep_cancel_view, name="sweep_cancel"),
    path("runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("runs/<int:pk>/status.json", views.run_status_json, name="run_status"),
    path("runs/<int:pk>/scatter.json", views.run_scatter_json, name="run_scatter"),
    path("runs/<int:pk>/cancel/", views.run_cancel_view, name="run_cancel"),
    path("runs/<int:pk>/retry/", views.run_retry_view, name="run_retry"),
    path("runs/<int:pk>/predictions.csv", views.run_predictions, name="run_predictions"),
    path("runs/<int:pk>/checkpoints/<int:index>/", views.run_checkpoint, name="run_checkpoint"),
    path("runs/<int:pk>/score/", views.run_score, name="run_score"),
    path("scoring/<int:pk>/", views.scoring_detail, name="scoring_detail"),
    path("scoring/<int:pk>/status.json", views.scoring_status_json, name="scoring_status"),
    path("scoring/<int:pk>/scores.csv", views.scoring_csv, name="scoring_csv"),
    path(
        "scoring/<int:pk>/images/<int:index>.jpg",
        views.scoring_thumbnail,
        name="scoring_thumbnail",
    ),
    path("leaderboard/<int:release_pk>/", views.leaderboard, name="leaderboard"),
]
