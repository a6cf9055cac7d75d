# One image for every veil service; the command picks the service.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY libs libs
COPY services services
RUN pip install --no-cache-dir . && mkdir -p /var/lib/veil && chown nobody /var/lib/veil
USER nobody
# Each container's own data dir, kept across restarts: a dispatcher's or gateway's
# outbox (records not yet acknowledged by JetStream) must outlive a crash of its process.
ENV VEIL_DATA_DIR=/var/lib/veil
VOLUME /var/lib/veil
ENTRYPOINT ["veil"]
