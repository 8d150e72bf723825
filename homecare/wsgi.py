"""The WSGI application for a production server (``gunicorn homecare.wsgi:app``)."""

from homecare import create_app

app = create_app()
