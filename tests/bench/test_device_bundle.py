"""The GPU bundle's wheel list: complete for the image it is carried to, and nothing the image has or the
campaign skips."""

from __future__ import annotations

from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bench.device_bundle import NOT_CARRIED, device_commands, image_packages, target_environment, wheels_to_carry


@pytest.mark.slow
def test_every_requirement_of_a_carried_wheel_is_carried_or_already_on_the_image() -> None:
    image = image_packages()
    assert {"jax", "numpy", "torch", "typer", "rich", "matplotlib"} <= image and "tensorflow" not in image
    wheels = wheels_to_carry(image)
    carried = {wheel.name for wheel in wheels}
    assert {"keras", "optuna", "optuna-dashboard", "sqlalchemy", "alembic", "plotly", "optree", "mako"} <= carried
    assert not carried & image and not carried & NOT_CARRIED
    environment = target_environment() | {"extra": ""}
    for wheel in wheels:
        assert wheel.version == metadata.version(wheel.name)  # the version the tests ran with
        for text in metadata.requires(wheel.name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate(environment):
                assert canonicalize_name(requirement.name) in carried | image, f"{wheel.name} needs {requirement.name}"


def test_the_markers_are_the_gpu_machines_not_this_one() -> None:
    environment = target_environment()
    assert environment["python_version"] == "3.12" and environment["platform_machine"] == "x86_64"
    assert not Requirement('tomli; python_version < "3.11"').marker.evaluate(environment)


def test_the_device_commands_install_the_wheels_and_run_every_part_of_the_campaign() -> None:
    commands = device_commands("device-bundle")
    assert all("--no-index" in c and "device-bundle/wheels/*.whl" in c and "KERAS_BACKEND=jax" in c for c in commands)
    assert all(c.startswith("set -o pipefail;") and len(c) < 2000 for c in commands)  # one device call's limit
    parts = " ".join(commands)
    assert all(f"--part {part}" in parts for part in ("epoch-time", "scaling", "search"))
