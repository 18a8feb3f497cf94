"""search/runtime/choice.py: the runtime each kind of machine gets, the overrides, and a model compiled with it."""

from __future__ import annotations

import pytest

from search.runtime.choice import (
    CPU_STEPS_PER_EXECUTION,
    BackendChoice,
    RuntimeChoice,
    choose_backend,
    choose_runtime,
    cpu_flags,
    with_overrides,
)
from search.settings import Settings

JIT_ENV, STEPS_ENV = "FMNIST_JIT_COMPILE", "FMNIST_STEPS_PER_EXECUTION"


@pytest.mark.parametrize("family", ["dense", "cnn"])
def test_tensorflow_on_a_cpu_runs_many_steps_per_call_without_xla(family: str) -> None:
    choice = choose_runtime(family, "tensorflow", has_gpu=False)
    assert choice.jit_compile is False and choice.steps_per_execution == CPU_STEPS_PER_EXECUTION > 1


@pytest.mark.parametrize("family", ["dense", "cnn"])
@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_a_gpu_keeps_keras_defaults(backend: str, family: str) -> None:
    choice = choose_runtime(family, backend, has_gpu=True)
    assert (choice.jit_compile, choice.steps_per_execution) == ("auto", 1)


@pytest.mark.parametrize("family", ["dense", "cnn"])
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_other_backends_on_a_cpu_keep_keras_defaults(backend: str, family: str) -> None:
    choice = choose_runtime(family, backend, has_gpu=False)
    assert (choice.jit_compile, choice.steps_per_execution) == ("auto", 1)


def test_overrides_replace_the_choice_and_say_so() -> None:
    chosen = choose_runtime("dense", "tensorflow", has_gpu=False)
    assert with_overrides(chosen, Settings.from_environ({})) is chosen
    forced = with_overrides(chosen, Settings.from_environ({JIT_ENV: "True", STEPS_ENV: "1"}))
    assert (forced.jit_compile, forced.steps_per_execution) == (True, 1) and "overridden" in forced.reason
    assert with_overrides(chosen, Settings.from_environ({JIT_ENV: "auto"})).jit_compile == "auto"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({JIT_ENV: "maybe"}, "must be auto, true or false"),
        ({STEPS_ENV: "0"}, "at least 1"),
        ({STEPS_ENV: "x"}, "at least 1"),
    ],
)
def test_a_bad_override_is_one_line_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message) as error:
        with_overrides(RuntimeChoice(False, 32, "test"), Settings.from_environ(env))
    assert "\n" not in str(error.value) and next(iter(env)) in str(error.value)


def test_cpu_flags_are_read_from_the_first_processor() -> None:
    text = "processor\t: 0\nmodel name\t: Xeon\nflags\t\t: fpu avx512f avx512_bf16\n\nprocessor\t: 1\nflags\t\t: fpu\n"
    assert cpu_flags(text) == {"fpu", "avx512f", "avx512_bf16"}
    assert cpu_flags("Features\t: fp asimd\n") == {"fp", "asimd"}  # ARM
    assert cpu_flags("") == frozenset()


def test_a_built_model_is_compiled_with_this_process_s_choice() -> None:
    from search.runtime.choice import compile_options, current_runtime
    from spaces.builders import build_model
    from spaces.families import defaults

    for family in ("dense", "cnn"):
        model = build_model(family, defaults(family), compile_options=compile_options(family))
        assert model.steps_per_execution == current_runtime(family).steps_per_execution
        assert model.get_layer("output").dtype_policy.name == "float32"


ALL = {"tensorflow", "jax", "torch"}


def test_tensorflow_is_the_backend_wherever_it_is_installed() -> None:
    # JAX's dense epochs were 4-8x faster, but its augmentation layers 23x slower (BENCHMARKS.md §9).
    assert choose_backend(installed=ALL).name == "tensorflow"


def test_a_machine_without_tensorflow_gets_what_it_has() -> None:
    only_jax = choose_backend(installed={"jax", "torch"})
    assert only_jax.name == "jax" and "only backend" in only_jax.reason
    assert choose_backend(installed={"torch"}).name == "torch"


def test_keras_backend_set_by_the_user_always_wins() -> None:
    assert choose_backend(installed=ALL, requested="tensorflow") == BackendChoice("tensorflow", "KERAS_BACKEND")
    assert choose_backend(installed=ALL, requested="torch").name == "torch"
