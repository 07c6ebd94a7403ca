from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_replace
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from annotation.research.views import dashboard_home
from annotation.research.views_tokens import api_token_revoke_view, api_tokens
from study_site import views

# Swagger UI adds a <style> element of its own; the staff-only docs page (no user content)
# may, every other page may not. Its start-up script is a file (the split view).
API_DOCS = csp_replace({"style-src-elem": [SELF, UNSAFE_INLINE]})(
    SpectacularSwaggerSplitView.as_view(url_name="api-schema")
)

urlpatterns = [
    path("", dashboard_home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/api-tokens/", api_tokens, name="api_tokens"),
    path(
        "account/api-tokens/<int:token_pk>/revoke/", api_token_revoke_view, name="api_token_revoke"
    ),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", API_DOCS, name="api-docs"),
    path("studies/", include("annotation.research.urls")),
    path("benchmark/", include("benchmark.urls")),
    path("api/benchmark/", include("benchmark.api.urls")),
    path("api/", include("annotation.api.urls")),
    path("", include("annotation.urls")),
]
