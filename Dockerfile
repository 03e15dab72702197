# heapmetric scoring service on one NVIDIA GPU.
#
#   docker build -t heapmetric .
#   docker run --gpus '"device=0"' -p 8000:8000 \
#     -v /srv/models/heapmetric:/models/heapmetric:ro -e HEAPMETRIC_MODEL=/models/heapmetric \
#     -v /srv/secrets/heapmetric_keys:/run/secrets/heapmetric_keys:ro \
#     -e HEAPMETRIC_API_KEY_FILE=/run/secrets/heapmetric_keys \
#     heapmetric --quantize 4bit
#
# The model is not baked into the image: mount a checkpoint folder under /models and name it with
# HEAPMETRIC_MODEL (or --model); without one the embedded default model is served. Nothing is downloaded at
# run time (HF_HUB_OFFLINE=1). Settings come from HEAPMETRIC_* variables or the flags after the image name.
FROM nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-pip python3-venv \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 heapmetric
WORKDIR /opt/heapmetric

# dependencies first, so code edits do not reinstall torch
COPY pyproject.toml README.md ./
COPY heapmetric ./heapmetric
COPY service ./service
COPY training ./training
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --upgrade "pip>=24" \
 && /opt/venv/bin/pip install ".[service,quant]"

ENV PATH=/opt/venv/bin:$PATH \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HOME=/tmp/hf \
    HEAPMETRIC_HOST=0.0.0.0 \
    HEAPMETRIC_PORT=8000 \
    HEAPMETRIC_DEVICE=cuda

RUN mkdir -p /models && chown heapmetric /models
VOLUME ["/models"]
USER heapmetric
EXPOSE 8000

# alive (not "ready": /readyz turns 200 once the model is loaded and warmed; use it for load balancers)
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD python3 -c "import os, sys, urllib.request; port = os.environ.get('HEAPMETRIC_PORT', '8000'); \
sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status != 200)"

# SIGTERM: stop accepting, finish the queue, exit (give `docker stop -t` more than the request timeout)
STOPSIGNAL SIGTERM
ENTRYPOINT ["heapmetric", "serve"]
CMD []
