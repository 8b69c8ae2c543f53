# syntax=docker/dockerfile:1
# Readiness: Django app served by gunicorn; the same image runs the Celery workers and beat.
FROM python:3.11-slim-bookworm

# PYTHONPATH: import the project from the source tree in /app (templates/ and static/ live
# beside it), not from the copy pip puts in site-packages.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app

# WeasyPrint's runtime libraries and a font for PDF rendering.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 \
        libpangoft2-1.0-0 \
        libharfbuzz-subset0 \
        fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

# Unprivileged user (with a home: gunicorn and Celery may write small files there).
RUN groupadd --system --gid 10001 readiness \
    && useradd --system --uid 10001 --gid readiness --create-home --home-dir /home/readiness \
        --shell /usr/sbin/nologin readiness

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so code changes do not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .
RUN pip install --no-deps . \
    && rm -rf build *.egg-info \
    && chmod 0755 bin/docker-entrypoint

# Static files are collected into the image (served by WhiteNoise). The key below exists only
# for this build step; the running container must be given its own SECRET_KEY.
RUN SECRET_KEY=build-only-not-secret python manage.py collectstatic --noinput

# Writable state only: var/ (media uploads, beat schedule). Code and static stay root-owned.
RUN mkdir -p /app/var/media /app/var/metrics && chown -R readiness:readiness /app/var
ENV MEDIA_ROOT=/app/var/media

USER readiness

EXPOSE 8000

ENTRYPOINT ["/app/bin/docker-entrypoint"]
CMD ["gunicorn", "readiness.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", \
     "--no-control-socket", "--access-logfile", "-"]
