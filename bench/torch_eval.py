"""Measure PyTorch CPU inference throughput of the width-128 RenasNet.

The model has random weights (PyTorch default init, seeded) and runs in eval mode
under torch.no_grad() on random input of shape [batch, 3, 32, 32]. After the
warm-up iterations, the script times --iters forward passes and prints one line
of JSON to stdout.

Modes:
  nchw           float32, default contiguous (NCHW) layout
  channels_last  float32, model and input in torch.channels_last
  bf16           torch.autocast("cpu", dtype=torch.bfloat16), channels_last

Example (from the repository root):
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/torch_eval.py --mode nchw
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import renas_torch  # noqa: E402

MODES = ("nchw", "channels_last", "bf16")
WIDTH = 128
SEED = 0

# Runs one small convolution in the requested mode with ONEDNN_VERBOSE=1, so that
# oneDNN prints one "exec" line per primitive that it runs. A float32 channels_last
# convolution follows the marker line, because oneDNN prints its ISA line only once
# it is first used, and PyTorch may run the requested mode without oneDNN.
_PROBE_MARKER = "probe: requested mode done"
_PROBE_SOURCE = f"""
import sys, torch
mode = sys.argv[1]
torch.set_num_threads(1)
conv = torch.nn.Conv2d(16, 16, 3, padding=1, bias=False).eval()
x = torch.randn(8, 16, 16, 16)
if mode != "nchw":
    conv = conv.to(memory_format=torch.channels_last)
    x = x.to(memory_format=torch.channels_last)
with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "bf16"):
    conv(x)
print({_PROBE_MARKER!r}, flush=True)
conv = conv.float().to(memory_format=torch.channels_last)
with torch.no_grad():
    conv(x.float().to(memory_format=torch.channels_last))
"""


def probe_onednn(mode):
    """Return (isa, convolution implementation) that oneDNN reports for one conv in mode.

    The implementation is None when oneDNN ran no convolution in that mode, which
    means PyTorch used its own kernel. isa is None when oneDNN printed no ISA line.
    """
    env = dict(os.environ, ONEDNN_VERBOSE="1")
    result = subprocess.run(
        [sys.executable, "-c", _PROBE_SOURCE, mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    isa = None
    implementation = None
    requested_mode_done = False
    for line in result.stdout.splitlines():
        if line.strip() == _PROBE_MARKER:
            requested_mode_done = True
            continue
        match = re.match(r"onednn_verbose,info,cpu,isa:(.*)", line)
        if match:
            isa = match.group(1).strip()
        fields = line.split(",")
        is_convolution = len(fields) > 4 and fields[1] == "exec" and fields[3] == "convolution"
        if is_convolution and not requested_mode_done:
            implementation = fields[4]
    return isa, implementation


def build_model(mode):
    torch.manual_seed(SEED)
    model = renas_torch.RenasNet(WIDTH).eval()
    count = renas_torch.count_trainable_parameters(model)
    assert count == renas_torch.WIDTH128_PARAMETER_COUNT, (
        f"width-{WIDTH} model has {count} trainable parameters, expected {renas_torch.WIDTH128_PARAMETER_COUNT}"
    )
    if mode != "nchw":
        model = model.to(memory_format=torch.channels_last)
    return model, count


def make_input(mode, batch_size):
    generator = torch.Generator().manual_seed(SEED)
    x = torch.randn(batch_size, 3, 32, 32, generator=generator)
    if mode != "nchw":
        x = x.to(memory_format=torch.channels_last)
    return x


def time_forward(model, x, mode, warmup, iters):
    """Return the wall time in seconds of each of iters timed forward passes."""
    times = []
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "bf16"):
        for _ in range(warmup):
            model(x)
        for _ in range(iters):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return times


def parse_args():
    parser = argparse.ArgumentParser(description="Measure PyTorch CPU inference throughput of the width-128 RenasNet.")
    parser.add_argument("--mode", choices=MODES, default="nchw", help="layout and precision (default: nchw)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads value (default: 2)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default: 32)")
    parser.add_argument("--iters", type=int, default=10, help="timed forward passes (default: 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed forward passes before timing (default: 2)")
    parser.add_argument(
        "--no-probe",
        action="store_true",
        help="skip the ONEDNN_VERBOSE subprocess that finds the oneDNN ISA and conv implementation",
    )
    args = parser.parse_args()
    for name in ("threads", "batch_size", "iters"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.warmup < 0:
        parser.error(f"--warmup must be at least 0, got {args.warmup}")
    return args


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    model, count = build_model(args.mode)
    x = make_input(args.mode, args.batch_size)
    times = time_forward(model, x, args.mode, args.warmup, args.iters)

    seconds_per_batch = sum(times) / len(times)
    record = {
        "framework": "pytorch",
        "torch": torch.__version__,
        "mode": args.mode,
        "batch": args.batch_size,
        "threads": args.threads,
        "images_per_second": round(args.batch_size / seconds_per_batch, 2),
        "seconds_per_batch": round(seconds_per_batch, 6),
        "seconds_per_batch_min": round(min(times), 6),
        "warmup": args.warmup,
        "iters": args.iters,
        "parameters": count,
        "mkldnn_available": torch.backends.mkldnn.is_available(),
        "machine": platform.machine(),
    }
    if not args.no_probe:
        isa, implementation = probe_onednn(args.mode)
        record["onednn_isa"] = isa
        record["onednn_conv_impl"] = implementation
    print(json.dumps(record))


if __name__ == "__main__":
    main()
