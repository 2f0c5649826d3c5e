from rest_framework.pagination import CursorPagination as BaseCursorPagination


class CursorPagination(BaseCursorPagination):
    """One pagination everywhere: ``?cursor=`` links in ``next``/``previous``, newest first."""

    ordering = "-created_at"
    page_size_query_param = "page_size"
    max_page_size = 200
