"""Every image the course uses, in one place.

On a learner's laptop these are the official images, pulled on first use. Where no
registry can be reached (CI, air-gapped or rate-limited classrooms) `make offline-images`
builds an equivalent of each from Debian packages and tags it with the same reference,
so every Dockerfile, compose file and `docker run` in the labs reads the same in both
modes. Offline builds carry the label OFFLINE_LABEL, which is how `labkit images` tells
them apart from the real thing.
"""
from __future__ import annotations

from dataclasses import dataclass

OFFLINE_LABEL = "dev.containers-course.offline-equivalent-of"


@dataclass(frozen=True)
class Image:
    ref: str
    purpose: str
    recipe: str  # "rootfs" (debootstrap) or a folder under labkit/offline/ with a Dockerfile
    labs: tuple[str, ...]


DEBIAN = Image("debian:bookworm-slim", "minimal Debian userland; the base of every offline build", "rootfs", ("01",))
PYTHON = Image("python:3.11-slim-bookworm", "base image of the sample API (Python 3.11, as in Debian bookworm)", "python", ("01", "02", "03"))
PYTHON_FULL = Image("python:3.11-bookworm", "the full Python image with compilers: lab 03's bad example", "python-full", ("03",))
REGISTRY = Image("registry:2", "a local image registry (CNCF Distribution)", "registry", ("02",))
POSTGRES = Image("postgres:15-bookworm", "PostgreSQL 15, Debian bookworm's (the chapter's postgres:14-alpine is end of life)", "postgres", ("04",))
REDIS = Image("redis:7-bookworm", "Redis 7", "redis", ("04",))
NGINX = Image("nginx:stable-bookworm", "nginx, the reverse proxy in front of the API", "nginx", ("04",))

CATALOGUE: tuple[Image, ...] = (DEBIAN, PYTHON, PYTHON_FULL, REGISTRY, POSTGRES, REDIS, NGINX)


def by_ref(ref: str) -> Image:
    for img in CATALOGUE:
        if img.ref == ref:
            return img
    raise KeyError(ref)
