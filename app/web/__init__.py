"""The staff web console: server-rendered Dutch pages on the API's application."""

from app.web.console import install_console

__all__ = ["install_console"]
