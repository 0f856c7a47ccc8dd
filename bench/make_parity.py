"""Write the width-16 parity fixtures for the Go engine into nasnet/testdata/.

Outputs:
  parity_w16.safetensors     weights of a seeded width-16 RenasNet, MindSpore
                             names, all F32.
  parity_w16_io.safetensors  input [8,3,32,32] F32 (the first 8 CIFAR-10 test
                             images, preprocessed), labels [8] F32, logits [8,10]
                             F32, stem_sum [8] F32 and stack1_sum [8] F32.

Reference values come from model.eval() run in float64 on the float32 weights and
input, then cast to float32. stem_sum and stack1_sum are per-image sums over
C, H and W of the stem output and of the stack-1 output (before the max pool).

Run from the repository root with the interpreter that has torch:
    /usr/bin/python3 bench/make_parity.py
Two runs write byte-identical files.
"""

import argparse
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import renas_torch  # noqa: E402

SEED = 20240601
WIDTH = 16
NUM_IMAGES = 8

# BN parameter distributions. gamma and beta are drawn directly. The moving
# statistics are drawn relative to the measured statistics of each BN layer's input
# on the NUM_IMAGES images (see calibrate_batchnorm).
GAMMA_RANGE = (0.5, 1.5)
BETA_STD = 0.2
MEAN_SHIFT_STD = 0.2
VARIANCE_SCALE_RANGE = (0.5, 2.0)
# Lower bound on a measured channel variance, so that a constant channel does not
# divide by sqrt(eps) alone.
MIN_CALIBRATION_VARIANCE = 1e-3

DEFAULT_OUTPUT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "nasnet", "testdata")


def batchnorm_layers(model):
    return [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]


def calibrate_batchnorm(model, x):
    """Set random gamma and beta and input-relative moving statistics on every BN layer.

    With PyTorch's default conv init, each conv shrinks the activation variance
    by about 3x (kaiming_uniform with a=sqrt(5)). Drawing moving_mean ~ N(0, 0.2)
    and moving_variance ~ U(0.5, 2) in absolute terms then makes every BN output
    close to a per-channel constant. The logits became independent of the input
    (their spread across images was about 1e-11), so a test would miss bugs
    before the head. Instead, each BN layer gets
        moving_mean     = mu + z * sigma,  z ~ N(0, MEAN_SHIFT_STD)
        moving_variance = sigma^2 * s,     s ~ U(VARIANCE_SCALE_RANGE)
    where mu and sigma^2 are the per-channel mean and (biased) variance of that
    layer's input on x, measured with all earlier layers already calibrated.
    gamma ~ U(GAMMA_RANGE) and beta ~ N(0, BETA_STD) as drawn. All draws happen
    before the calibration pass, in module order, so they depend only on the seed.
    """
    layers = batchnorm_layers(model)
    offsets = {}
    with torch.no_grad():
        for bn in layers:
            channels = bn.num_features
            bn.weight.uniform_(*GAMMA_RANGE)
            bn.bias.normal_(0.0, BETA_STD)
            shift = torch.randn(channels, dtype=torch.float64) * MEAN_SHIFT_STD
            scale = torch.empty(channels, dtype=torch.float64).uniform_(*VARIANCE_SCALE_RANGE)
            offsets[bn] = (shift, scale)

    def set_moving_statistics(bn, inputs):
        (a,) = inputs
        mean = a.mean(dim=(0, 2, 3))
        variance = a.var(dim=(0, 2, 3), unbiased=False).clamp_min(MIN_CALIBRATION_VARIANCE)
        shift, scale = offsets[bn]
        bn.running_mean.copy_(mean + shift * variance.sqrt())
        bn.running_var.copy_(variance * scale)

    # Each BN layer runs once per forward pass, in execution order, so one eval
    # pass calibrates layer k after layers 0..k-1 already use their new statistics.
    handles = [bn.register_forward_pre_hook(set_moving_statistics) for bn in layers]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()


def build_model(x64):
    torch.manual_seed(SEED)
    model = renas_torch.RenasNet(WIDTH).double().eval()
    calibrate_batchnorm(model, x64)
    # The fixture stores float32 weights, so the reference must use exactly those values.
    model.float().double()
    return model


def check_activations(logits, stages):
    """Raise AssertionError when the reference would make a weak test."""
    logits_std = logits.std().item()
    assert 0.1 <= logits_std <= 100, f"logits std {logits_std:.3g} is outside 0.1..100, adjust BN scales"
    for name, value in stages.items():
        assert value.abs().max().item() > 0, f"stage {name} is all zeros"
        dead = int((value.amax(dim=(0, 2, 3)) <= 0).sum())
        print(
            f"{name:7s} std {value.std().item():.4f}  positive {(value > 0).double().mean().item():.3f}  "
            f"spread across images {value.std(dim=0).mean().item():.4f}  dead channels {dead}"
        )
    spread = logits.std(dim=0).mean().item()
    print(f"logits  std {logits_std:.4f}  spread across images {spread:.4f}")
    assert spread > 0.01 * logits_std, f"logits hardly depend on the input (spread {spread:.3g}), adjust BN scales"


def stage_sum(value):
    return value.sum(dim=(1, 2, 3))


def write_fixtures(output_dir):
    images, labels = renas_torch.read_cifar10_test_batch(count=NUM_IMAGES)
    x32 = renas_torch.preprocess_cifar10(images)
    x64 = torch.from_numpy(x32).double()

    model = build_model(x64)
    with torch.no_grad():
        logits, stages = model.forward_stages(x64)
    check_activations(logits, stages)

    weights = {name: (t, "F32") for name, t in renas_torch.to_mindspore_names(model).items()}
    io = {
        "input": (x32, "F32"),
        "labels": (labels, "F32"),
        "logits": (logits, "F32"),
        "stem_sum": (stage_sum(stages["stem"]), "F32"),
        "stack1_sum": (stage_sum(stages["stack1"]), "F32"),
    }
    os.makedirs(output_dir, exist_ok=True)
    weights_path = os.path.join(output_dir, f"parity_w{WIDTH}.safetensors")
    io_path = os.path.join(output_dir, f"parity_w{WIDTH}_io.safetensors")
    renas_torch.write_safetensors(weights_path, weights)
    renas_torch.write_safetensors(io_path, io)
    return weights_path, io_path


def verify_fixtures(weights_path, io_path):
    """Reload both files into a fresh model and check the stored reference values."""
    model = renas_torch.RenasNet(WIDTH).double().eval()
    renas_torch.load_mindspore_names(model, renas_torch.read_safetensors(weights_path))
    io = renas_torch.read_safetensors(io_path)
    x = torch.from_numpy(io["input"])
    with torch.no_grad():
        logits64, stages = model.forward_stages(x.double())
        logits32 = model.float()(x)
    expected = {
        "logits": logits64.float().numpy(),
        "stem_sum": stage_sum(stages["stem"]).float().numpy(),
        "stack1_sum": stage_sum(stages["stack1"]).float().numpy(),
    }
    for name, value in expected.items():
        assert np.array_equal(io[name], value), f"{name} read back from {io_path} differs from a recomputation"
    difference = np.abs(logits32.numpy() - io["logits"]).max()
    print(f"float32 PyTorch vs float64 reference: max |logits difference| {difference:.3g}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output-dir",
        default=DEFAULT_OUTPUT_DIR,
        help="directory for the two .safetensors files (default: nasnet/testdata in this repository)",
    )
    args = parser.parse_args()
    # One thread keeps the float64 reductions in a fixed order.
    torch.set_num_threads(1)
    weights_path, io_path = write_fixtures(args.output_dir)
    verify_fixtures(weights_path, io_path)
    for path in (weights_path, io_path):
        print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
