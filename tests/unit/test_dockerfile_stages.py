"""Lab 02 reads a Dockerfile's final stage: what the image gets, not what any stage says."""
from labkit.labs.lab02 import dockerfile_instructions, final_stage

DOCKERFILE = """
ARG APP_VERSION=1.0.0
FROM python:3.11-bookworm AS build
RUN pip install -r requirements.txt
HEALTHCHECK CMD ["python", "-m", "app.healthcheck"]
FROM python:3.11-slim-bookworm AS runtime
COPY --from=build /opt/venv /opt/venv
USER app
FROM runtime
EXPOSE 3000
"""


def test_the_final_stage_inherits_from_the_stage_it_names_and_nothing_else():
    words = [w for w, _ in final_stage(dockerfile_instructions(DOCKERFILE))]
    assert words == ["COPY", "USER", "EXPOSE"]  # the build stage's RUN and HEALTHCHECK, the global ARG: not the image's


def test_a_single_stage_is_its_own_final_stage():
    assert final_stage(dockerfile_instructions("FROM debian\nUSER app\n")) == [("USER", "app")]
