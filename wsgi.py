"""WSGI entry point for gunicorn: `gunicorn wsgi:app`."""

from callcenter.app import create_app

app = create_app()
