"""The local Argilla server: ``local.py`` (runs in the project venv) starts ``launch.py`` and
``sqlite_engine.py`` inside the argilla-server venv that ``install.sh`` creates."""
