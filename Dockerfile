# The server with the shipped model: `docker build -t quickdraw-live . && docker run -p 5000:5000 quickdraw-live`.
# Drawings go to /data (mount a volume there); every setting is a QUICKDRAW_<NAME> variable (docs/DEPLOY.md).
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY client client
COPY core core
COPY server server
COPY static static
COPY training training
COPY model model
RUN pip install --no-cache-dir . && useradd --system --home /app quickdraw && mkdir /data && chown quickdraw /data

USER quickdraw
ENV QUICKDRAW_HOST=0.0.0.0 QUICKDRAW_SAVED_DIR=/data QUICKDRAW_MODEL_DIR=/app/model
EXPOSE 5000
STOPSIGNAL SIGTERM
CMD ["python", "-m", "server"]
