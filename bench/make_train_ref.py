"""Write the one-step training reference for the Go engine into nn/testdata/.

Outputs (all F32, MindSpore names):
  train_ref_w8_init.safetensors  parameters and BN moving statistics of a seeded
                                 width-8 RenasNet before the step.
  train_ref_w8_io.safetensors    input [16,3,32,32], labels [16], logits [16,10],
                                 loss [1], grad.<name> for every trainable
                                 parameter, after.<name> for every parameter and
                                 moving statistic after the step.

The step, computed in float64 from the stored float32 values and then rounded to
float32:
  * model.train(): BN normalizes with the biased batch variance, eps 1e-5, and
    updates moving = 0.9 * moving + 0.1 * batch, using the unbiased variance for
    moving_variance.
  * loss: mean over the batch of softmax cross-entropy against the smoothed
    target (1 - 0.1) * onehot + 0.1 / 10.
  * SGD, lr 0.1, momentum 0.9, no Nesterov, weight decay 5e-4 on conv and linear
    weights only. On the first step the momentum buffer is d = g + wd * w, so
    w_after = w - lr * d. grad.<name> is g, without weight decay.

Run from the repository root with the interpreter that has torch:
    /usr/bin/python3 bench/make_train_ref.py
Two runs write byte-identical files.
"""

import argparse
import copy
import os
import sys

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import renas_torch  # noqa: E402

SEED = 7
WIDTH = 8
NUM_IMAGES = 16

GAMMA_RANGE = (0.5, 1.5)
BETA_STD = 0.2
MOVING_MEAN_STD = 0.1
MOVING_VARIANCE_RANGE = (0.5, 2.0)

LABEL_SMOOTHING = 0.1
LEARNING_RATE = 0.1
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
# PyTorch's BatchNorm momentum: moving = (1 - BN_MOMENTUM) * moving + BN_MOMENTUM * batch.
BN_MOMENTUM = 0.1

# Size limit for the two files together, to keep the fixtures small in git.
MAX_TOTAL_BYTES = 1_500_000

DEFAULT_OUTPUT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "nn", "testdata")


def build_model():
    """Build the seeded float32 width-8 network with drawn BN parameters and statistics.

    Convolutions and the linear layer keep PyTorch's default init. BN draws happen
    after construction, in module order, so they depend only on SEED.
    """
    torch.manual_seed(SEED)
    model = renas_torch.RenasNet(WIDTH)
    with torch.no_grad():
        for bn in model.modules():
            if isinstance(bn, nn.BatchNorm2d):
                assert bn.momentum == BN_MOMENTUM
                assert bn.eps == renas_torch.BN_EPS
                bn.weight.uniform_(*GAMMA_RANGE)
                bn.bias.normal_(0.0, BETA_STD)
                bn.running_mean.normal_(0.0, MOVING_MEAN_STD)
                bn.running_var.uniform_(*MOVING_VARIANCE_RANGE)
    return model


def mindspore_names_by_parameter(model):
    """Return a dict of PyTorch state_dict key -> MindSpore name for model."""
    torch_keys = [key for key in model.state_dict() if not key.endswith(".num_batches_tracked")]
    mindspore_keys = list(renas_torch.to_mindspore_names(model))
    assert len(torch_keys) == len(mindspore_keys)
    return dict(zip(torch_keys, mindspore_keys))


def make_optimizer(model):
    """Return SGD with weight decay on conv and linear weights and none on BN or the linear bias."""
    decayed, undecayed = [], []
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            decayed.append(module.weight)
            if module.bias is not None:
                undecayed.append(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            undecayed.extend([module.weight, module.bias])
    assert len(decayed) + len(undecayed) == len(list(model.parameters()))
    return torch.optim.SGD(
        [
            {"params": decayed, "weight_decay": WEIGHT_DECAY},
            {"params": undecayed, "weight_decay": 0.0},
        ],
        lr=LEARNING_RATE,
        momentum=MOMENTUM,
        dampening=0.0,
        nesterov=False,
    )


def smoothed_cross_entropy(logits, labels):
    """Compute the label-smoothed loss by its definition, to check F.cross_entropy against."""
    onehot = F.one_hot(labels, renas_torch.NUM_CLASSES).to(logits.dtype)
    target = (1.0 - LABEL_SMOOTHING) * onehot + LABEL_SMOOTHING / renas_torch.NUM_CLASSES
    return -(target * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def train_step(model, x, labels):
    """Run one training step on model in place and return (logits, loss, grads, bn_inputs).

    grads maps PyTorch parameter names to the raw gradients before the optimizer
    step. bn_inputs maps each BN module to the input it saw in the forward pass.
    """
    model.train()
    bn_inputs = {}

    def record_input(bn, inputs):
        bn_inputs[bn] = inputs[0].detach().clone()

    handles = [m.register_forward_pre_hook(record_input) for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    optimizer = make_optimizer(model)
    optimizer.zero_grad()
    try:
        logits = model(x)
    finally:
        for handle in handles:
            handle.remove()
    loss = F.cross_entropy(logits, labels, label_smoothing=LABEL_SMOOTHING)
    loss.backward()
    grads = {name: p.grad.detach().clone() for name, p in model.named_parameters()}
    optimizer.step()
    return logits.detach(), loss.detach(), grads, bn_inputs


def check_semantics(before, after, logits, loss, labels, grads, bn_inputs):
    """Check the float64 step against the formulas in the module docstring.

    before and after are float64 models, before untouched. Raises AssertionError.
    """
    definition = smoothed_cross_entropy(logits, labels)
    assert abs(definition.item() - loss.item()) < 1e-12, f"loss {loss.item()} != definition {definition.item()}"

    after_state = after.state_dict()
    decayed = {id(m.weight) for m in before.modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    worst = 0.0
    for name, w in before.named_parameters():
        decay = WEIGHT_DECAY if id(w) in decayed else 0.0
        expected = w.detach() - LEARNING_RATE * (grads[name] + decay * w.detach())
        worst = max(worst, (expected - after_state[name]).abs().max().item())
    assert worst < 1e-14, f"SGD update differs from w - lr * (g + wd * w) by {worst:.3g}"

    after_modules = dict(after.named_modules())
    worst = 0.0
    for module_name, bn in before.named_modules():
        if not isinstance(bn, nn.BatchNorm2d):
            continue
        updated = after_modules[module_name]
        a = bn_inputs[updated]
        mean = a.mean(dim=(0, 2, 3))
        variance = a.var(dim=(0, 2, 3), unbiased=True)
        expected_mean = (1 - BN_MOMENTUM) * bn.running_mean + BN_MOMENTUM * mean
        expected_variance = (1 - BN_MOMENTUM) * bn.running_var + BN_MOMENTUM * variance
        worst = max(worst, (expected_mean - updated.running_mean).abs().max().item())
        worst = max(worst, (expected_variance - updated.running_var).abs().max().item())
    assert worst < 1e-12, f"BN moving statistics differ from the momentum-0.1 update by {worst:.3g}"


def check_activations(logits):
    """Raise AssertionError when the logits would make a weak test."""
    logits_std = logits.std().item()
    spread = logits.std(dim=0).mean().item()
    print(f"logits std {logits_std:.4f}  spread across images {spread:.4f}")
    assert 0.01 <= logits_std <= 100, f"logits std {logits_std:.3g} is outside 0.01..100"
    assert spread > 0.01 * logits_std, f"logits hardly depend on the input (spread {spread:.3g})"


def print_gradient_norms(grads, names):
    total = torch.sqrt(sum((g * g).sum() for g in grads.values())).item()
    print(f"gradient norm, all parameters: {total:.6g}")
    for name in ("conv1.weight", "bn1.weight", "block2.1.conv3x3_2.weight", "linear.weight", "linear.bias"):
        print(f"gradient norm {names[name]}: {grads[name].norm().item():.6g}")


def record_relu_inputs(model):
    """Attach hooks that append the input of every ReLU call to a list, in call order.

    Returns (inputs, handles). RenasNet reuses one nn.ReLU per module, so one hook
    receives several calls.
    """
    inputs = []
    handles = [
        m.register_forward_pre_hook(lambda module, args: inputs.append(args[0].detach()))
        for m in model.modules()
        if isinstance(m, nn.ReLU)
    ]
    return inputs, handles


class MaskReplayReLU(nn.Module):
    """ReLU that keeps the elements where a recorded input was positive, for diagnostics.

    recorded_inputs is the list of ReLU inputs in call order, as from
    record_relu_inputs. The mask replaces the sign test, so values and gradients pass exactly where they passed in the
    recorded run.
    """

    def __init__(self, recorded_inputs):
        super().__init__()
        self.masks = [a > 0 for a in recorded_inputs]
        self.calls = 0

    def forward(self, a):
        mask = self.masks[self.calls]
        self.calls += 1
        return a * mask.to(a.dtype)


def max_grad_difference(grads32, grads64):
    """Return (max |difference|, worst per-tensor ||difference|| / ||grad||) over all gradients."""
    absolute = max((grads32[n].double() - g).abs().max().item() for n, g in grads64.items())
    relative = max(((grads32[n].double() - g).norm() / g.norm().clamp_min(1e-30)).item() for n, g in grads64.items())
    return absolute, relative


def compare_float32(model32, before64, x32, labels, logits64, loss64, grads64, after64):
    """Run the same step in float32 and print its largest differences from the float64 reference.

    Also counts the ReLU inputs whose sign differs between the two runs and
    reruns float64 with the float32 run's ReLU masks, which separates the
    gradient difference that those sign flips cause from rounding alone.
    """
    inputs32, handles = record_relu_inputs(model32)
    logits32, loss32, grads32, _ = train_step(model32, x32, labels)
    for handle in handles:
        handle.remove()

    replay = copy.deepcopy(before64)
    inputs64, handles = record_relu_inputs(replay)
    with torch.no_grad():
        replay.train()(x32.double())
    for handle in handles:
        handle.remove()
    flipped = [(a32 > 0) != (a64 > 0) for a32, a64 in zip(inputs32, inputs64)]
    flip_count = sum(int(f.sum()) for f in flipped)
    flip_margin = max((a64[f].abs().max().item() for a64, f in zip(inputs64, flipped) if f.any()), default=0.0)

    # A fresh copy, because the forward above already moved the BN statistics of replay.
    replay = copy.deepcopy(before64)
    relu = MaskReplayReLU(inputs32)
    for module in replay.modules():
        if hasattr(module, "relu"):
            module.relu = relu
    _, _, grads_replayed, _ = train_step(replay, x32.double(), labels)
    assert relu.calls == len(inputs32)

    grad_absolute, grad_relative = max_grad_difference(grads32, grads64)
    replay_absolute, replay_relative = max_grad_difference(grads32, grads_replayed)
    state32 = model32.state_dict()
    after_difference = max(
        (state32[k].double() - v).abs().max().item()
        for k, v in after64.state_dict().items()
        if not k.endswith(".num_batches_tracked")
    )
    print("float32 PyTorch vs float64 reference, max |difference|:")
    print(f"  logits {(logits32.double() - logits64).abs().max().item():.3g}")
    print(f"  loss   {abs(loss32.item() - loss64.item()):.3g}")
    print(f"  grads  {grad_absolute:.3g} (worst per-tensor relative L2 error {grad_relative:.3g})")
    print(f"  after  {after_difference:.3g}")
    print(
        f"ReLU inputs with a different sign in float32: {flip_count} "
        f"(largest float64 |input| among them {flip_margin:.3g})"
    )
    print(
        f"  grads with the float32 ReLU masks replayed in float64: {replay_absolute:.3g} "
        f"(worst per-tensor relative L2 error {replay_relative:.3g})"
    )


def write_fixtures(output_dir):
    images, labels_np = renas_torch.read_cifar10_test_batch(count=NUM_IMAGES)
    x32_np = renas_torch.preprocess_cifar10(images)
    x32 = torch.from_numpy(x32_np)
    labels = torch.from_numpy(labels_np)

    model32 = build_model()
    init = {name: (t.clone(), "F32") for name, t in renas_torch.to_mindspore_names(model32).items()}
    # The weights are float32, so the float64 copy contains exactly the stored values.
    before64 = copy.deepcopy(model32).double()
    model64 = copy.deepcopy(before64)
    names = mindspore_names_by_parameter(model64)

    logits, loss, grads, bn_inputs = train_step(model64, x32.double(), labels)
    check_semantics(before64, model64, logits, loss, labels, grads, bn_inputs)
    check_activations(logits)
    print(f"loss {loss.item():.9g}")
    print_gradient_norms(grads, names)
    compare_float32(model32, before64, x32, labels, logits, loss, grads, model64)

    io = {
        "input": (x32_np, "F32"),
        "labels": (labels_np, "F32"),
        "logits": (logits, "F32"),
        "loss": (loss.reshape(1), "F32"),
    }
    for name, g in grads.items():
        io[f"grad.{names[name]}"] = (g, "F32")
    for name, t in renas_torch.to_mindspore_names(model64).items():
        io[f"after.{name}"] = (t, "F32")

    os.makedirs(output_dir, exist_ok=True)
    init_path = os.path.join(output_dir, f"train_ref_w{WIDTH}_init.safetensors")
    io_path = os.path.join(output_dir, f"train_ref_w{WIDTH}_io.safetensors")
    renas_torch.write_safetensors(init_path, init)
    renas_torch.write_safetensors(io_path, io)
    return init_path, io_path, len(grads), len(init)


def verify_fixtures(init_path, io_path, parameter_count, state_count):
    """Reload both files, redo the float64 step from them and compare with the stored values."""
    init = renas_torch.read_safetensors(init_path)
    io = renas_torch.read_safetensors(io_path)
    assert len(init) == state_count
    assert sum(name.startswith("grad.") for name in io) == parameter_count
    assert sum(name.startswith("after.") for name in io) == state_count

    model = renas_torch.RenasNet(WIDTH).double()
    renas_torch.load_mindspore_names(model, init)
    names = mindspore_names_by_parameter(model)
    labels = torch.from_numpy(io["labels"]).long()
    logits, loss, grads, _ = train_step(model, torch.from_numpy(io["input"]).double(), labels)

    expected = {"logits": logits, "loss": loss.reshape(1)}
    expected.update({f"grad.{names[n]}": g for n, g in grads.items()})
    expected.update({f"after.{n}": t for n, t in renas_torch.to_mindspore_names(model).items()})
    for name, value in expected.items():
        assert np.array_equal(io[name], value.float().numpy()), f"{name} read back from {io_path} differs"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output-dir",
        default=DEFAULT_OUTPUT_DIR,
        help="directory for the two .safetensors files (default: nn/testdata in this repository)",
    )
    args = parser.parse_args()
    # One thread keeps the float64 reductions in a fixed order.
    torch.set_num_threads(1)
    init_path, io_path, parameter_count, state_count = write_fixtures(args.output_dir)
    verify_fixtures(init_path, io_path, parameter_count, state_count)
    total = 0
    for path in (init_path, io_path):
        size = os.path.getsize(path)
        total += size
        print(f"wrote {path} ({size} bytes)")
    assert total <= MAX_TOTAL_BYTES, f"fixtures take {total} bytes, over the {MAX_TOTAL_BYTES}-byte budget"


if __name__ == "__main__":
    main()
