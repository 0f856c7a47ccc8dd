"""Measure PyTorch CPU training throughput of RenasNet: one SGD step per batch.

A step is the forward pass in train mode, softmax cross-entropy with label smoothing 0.1,
the backward pass and an SGD update (lr 0.01, momentum 0.9, weight decay 5e-4), the same
work as one Trainer.Step of the Go engine. The input is random, shape [batch, 3, 32, 32].
After the warm-up steps the script times --iters steps and prints one line of JSON.

Modes: nchw (float32, contiguous) and channels_last (float32, torch.channels_last).

Example (from the repository root):
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/torch_train.py --width 32
"""

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import renas_torch  # noqa: E402

SEED = 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("nchw", "channels_last"), default="nchw")
    parser.add_argument("--width", type=int, default=128, help="network width (default: 128)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads value")
    parser.add_argument("--batch-size", type=int, default=128, help="images per step")
    parser.add_argument("--iters", type=int, default=3, help="timed steps (default: 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (default: 1)")
    args = parser.parse_args()
    if min(args.threads, args.batch_size, args.iters, args.width) < 1 or args.warmup < 0:
        parser.error("--threads, --batch-size, --iters and --width must be at least 1")

    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    model = renas_torch.RenasNet(args.width).train()
    x = torch.randn(args.batch_size, 3, 32, 32)
    labels = torch.randint(0, 10, (args.batch_size,))
    if args.mode == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), labels)
        loss.backward()
        optimizer.step()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.iters):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    seconds = sum(times) / len(times)
    print(json.dumps({
        "framework": "pytorch",
        "torch": torch.__version__,
        "mode": args.mode,
        "width": args.width,
        "batch": args.batch_size,
        "threads": args.threads,
        "images_per_second": round(args.batch_size / seconds, 2),
        "seconds_per_step": round(seconds, 6),
        "seconds_per_step_min": round(min(times), 6),
    }))


if __name__ == "__main__":
    main()
