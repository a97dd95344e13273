FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml constraints.txt ./
COPY bot ./bot
COPY handlers ./handlers
COPY database ./database
COPY services ./services
COPY alembic ./alembic
COPY alembic.ini main.py ./
RUN pip install --no-cache-dir -c constraints.txt . \
    && useradd --system --home /app tgdesk \
    && mkdir /data && chown tgdesk /data

USER tgdesk
ENV DATABASE_URL=sqlite+aiosqlite:////data/tgdesk.db \
    PYTHONUNBUFFERED=1
VOLUME /data
# main.py applies pending migrations, then polls; SIGTERM stops it cleanly.
CMD ["python", "main.py"]
