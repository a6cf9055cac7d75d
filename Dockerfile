# One image for every veil service; the command picks the service.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY libs libs
COPY services services
RUN pip install --no-cache-dir .
USER nobody
ENV VEIL_DATA_DIR=/tmp/veil
ENTRYPOINT ["veil"]
