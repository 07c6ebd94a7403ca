"""Paging for every API list and researcher table: pages of a bounded size, never everything.

The API uses DRF's page-number pagination (``?page=``, ``?page_size=`` up to
``MAX_PAGE_SIZE``), which drf-spectacular documents on every list view that sets it.
"""

from django.conf import settings
from rest_framework.pagination import PageNumberPagination

MAX_PAGE_SIZE = 1000


class ApiPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request) -> int:
        self.page_size = getattr(settings, "API_PAGE_SIZE", 100)
        return super().get_page_size(request)
