"""Which device each runtime gets: CTranslate2 (Whisper) and torch (LLM, embeddings) decide
separately, since a GPU host may carry torch's CPU wheel."""

from __future__ import annotations

import pytest

from voice.engines.models import DevicePlan, detect_devices, plan_devices, whisper_device


@pytest.mark.parametrize("ct2_cuda", [False, True])
@pytest.mark.parametrize("torch_cuda", [False, True])
def test_auto_follows_each_runtime(ct2_cuda: bool, torch_cuda: bool) -> None:
    plan = plan_devices("auto", ctranslate2_cuda=ct2_cuda, torch_cuda=torch_cuda)
    assert plan.whisper == ("cuda" if ct2_cuda else "cpu")
    assert plan.whisper_compute == ("float16" if ct2_cuda else "int8")
    assert plan.torch == ("cuda" if torch_cuda else "cpu")
    assert plan.warnings == ()


def test_gpu_host_with_cpu_torch_keeps_torch_on_cpu() -> None:
    """The case that used to fail with "Torch not compiled with CUDA enabled"."""
    assert plan_devices("auto", True, False) == DevicePlan("cuda", "float16", "cpu")


@pytest.mark.parametrize("ct2_cuda", [False, True])
@pytest.mark.parametrize("torch_cuda", [False, True])
def test_cpu_never_uses_a_gpu(ct2_cuda: bool, torch_cuda: bool) -> None:
    assert plan_devices("cpu", ct2_cuda, torch_cuda) == DevicePlan("cpu", "int8", "cpu")


@pytest.mark.parametrize("ct2_cuda", [False, True])
@pytest.mark.parametrize("torch_cuda", [False, True])
def test_cuda_falls_back_per_runtime_with_a_warning(ct2_cuda: bool, torch_cuda: bool) -> None:
    plan = plan_devices("cuda", ct2_cuda, torch_cuda)
    assert plan.whisper == ("cuda" if ct2_cuda else "cpu")
    assert plan.torch == ("cuda" if torch_cuda else "cpu")
    assert len(plan.warnings) == (not ct2_cuda) + (not torch_cuda)
    assert all("DEVICE=cuda" in w for w in plan.warnings)


def test_preference_is_checked() -> None:
    assert plan_devices(" CUDA ", True, True).torch == "cuda"
    with pytest.raises(ValueError, match="DEVICE must be one of auto, cpu, cuda"):
        plan_devices("gpu", True, True)


def test_this_machine_agrees_with_its_runtimes() -> None:
    """The real probes, on whatever this machine is (CPU here: both say no GPU)."""
    import ctranslate2
    import torch

    plan = detect_devices("auto")
    assert plan.whisper == ("cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu")
    assert plan.torch == ("cuda" if torch.cuda.is_available() else "cpu")
    assert whisper_device("auto") == (plan.whisper, plan.whisper_compute)
    assert detect_devices("cpu") == DevicePlan("cpu", "int8", "cpu")
