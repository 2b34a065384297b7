FROM python:3.11-slim
WORKDIR /srv/kbx
RUN pip install --no-cache-dir 'uv==0.13.9'
COPY pyproject.toml uv.lock README.md ./
COPY app app
COPY exchange exchange
COPY crypto crypto
COPY channels channels
COPY migrations migrations
COPY protocols protocols
COPY alembic.ini ./
RUN uv sync --locked --no-dev
ENV PATH="/srv/kbx/.venv/bin:$PATH" KBX_DATA_DIR=/var/lib/kbx
RUN useradd --system --home /var/lib/kbx kbx && mkdir -p /var/lib/kbx && chown kbx /var/lib/kbx
USER kbx
EXPOSE 8000 2222
CMD ["sh", "-c", "kbx db upgrade && kbx serve --host 0.0.0.0"]
