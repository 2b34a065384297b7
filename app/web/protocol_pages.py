"""placeholder"""

from app.web.common import new_router

__all__ = ["router"]

router = new_router()
