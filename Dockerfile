# The fmnist-search image: the CLI (`fmnist-search`) and `optuna-dashboard`, run as a non-root user.
#   docker build -t fmnist-search .                       # with CUDA for TensorFlow (GPU workers)
#   docker build --build-arg WITH_CUDA=0 -t fmnist-search .   # CPU only, several GB smaller
# docker-compose.yml builds it for the dashboard and the workers.
FROM python:3.11-slim

# 1: also install pip's CUDA libraries for TensorFlow (tensorflow[and-cuda], same version), so
# that a container given a GPU (NVIDIA Container Toolkit) trains on it. 0: CPU only.
ARG WITH_CUDA=1

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    KERAS_BACKEND=tensorflow \
    TF_CPP_MIN_LOG_LEVEL=2

# No system packages needed: the wheels carry their libraries (libpq in psycopg2-binary).
# Only what `pip install .` reads is copied (see .dockerignore), and the source is dropped after.
COPY pyproject.toml README.md /tmp/src/
COPY search /tmp/src/search
COPY spaces /tmp/src/spaces
COPY storage /tmp/src/storage
RUN set -eux; \
    pip install /tmp/src; \
    if [ "$WITH_CUDA" = "1" ]; then \
        tf_version="$(python -c 'from importlib.metadata import version; print(version("tensorflow"))')"; \
        pip install "tensorflow[and-cuda]==${tf_version}"; \
    fi; \
    rm -rf /tmp/src; \
    fmnist-search --help >/dev/null

RUN useradd --create-home --uid 1000 --shell /bin/bash app
USER app
WORKDIR /home/app
# Fashion-MNIST (downloaded, checksummed) and its parsed arrays: ~/.cache/fmnist-search. Created
# before VOLUME so that a new named volume mounted there starts out owned by `app`.
ENV XDG_CACHE_HOME=/home/app/.cache
RUN mkdir -p /home/app/.cache/fmnist-search /home/app/.local/share/fmnist-search
VOLUME ["/home/app/.cache/fmnist-search"]

EXPOSE 8080
CMD ["fmnist-search", "--help"]
