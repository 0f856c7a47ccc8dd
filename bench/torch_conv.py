"""Measure one PyTorch CPU convolution layer: 3×3, 128→128 channels, padding 1, on a
[32, 128, 32, 32] input, followed by a ReLU as in this engine's fused layer.

After --warmup runs, the script times --iters runs and prints one line of JSON to stdout
with the mean time and the images per second.

Example (from the repository root):
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/torch_conv.py \
        --mode channels_last
"""

import argparse
import json
import time

import torch


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("nchw", "channels_last"), default="channels_last")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    conv = torch.nn.Conv2d(128, 128, 3, padding=1, bias=True).eval()
    x = torch.randn(32, 128, 32, 32)
    if args.mode == "channels_last":
        conv = conv.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    with torch.no_grad():
        for _ in range(args.warmup):
            torch.relu_(conv(x))
        start = time.perf_counter()
        for _ in range(args.iters):
            torch.relu_(conv(x))
        seconds = (time.perf_counter() - start) / args.iters
    print(json.dumps({"mode": args.mode, "threads": args.threads, "seconds": seconds,
                      "images_per_second": 32 / seconds}))


if __name__ == "__main__":
    main()
