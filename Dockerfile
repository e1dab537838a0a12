# causalrx decision-support service: CPU torch, non-root user, health check.
# Install steps mirror scripts/setup.sh: the pinned CPU build of torch first, then causalrx (here with the serve extra).
#   docker build -t causalrx .
#   docker run -p 8000:8000 -v "$PWD/bundle:/bundle" -v "$PWD/tokens.json:/secrets/tokens.json:ro" causalrx
# The bundle folder must be writable by uid 10001: the audit log lives in /bundle/state/.
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 causalrx
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --upgrade pip \
 && pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && pip install --no-cache-dir ".[serve]" \
 && python -c "import torch, causalrx.api.server; assert torch.__version__.startswith('2.13.0'), torch.__version__"
USER causalrx
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"
ENTRYPOINT ["causalrx", "serve", "/bundle", "--tokens", "/secrets/tokens.json", "--host", "0.0.0.0", "--port", "8000"]
