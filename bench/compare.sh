#!/usr/bin/env bash
# Measures PyTorch and this engine on the width-128 network in one run and prints images/s
# and the ratio for each PyTorch setting, in fp32 and then in bf16 (ours with bf16
# convolutions, PyTorch with bf16 autocast). Environment: BATCH (32), THREADS (2), ITERS (5),
# PYTHON (/usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-/usr/bin/python3}
batch=${BATCH:-32}
threads=${THREADS:-2}
iters=${ITERS:-5}

torch_ips() {
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$py" bench/torch_eval.py --mode "$1" \
		--batch-size "$batch" --threads "$threads" --iters "$iters" --warmup 1 --no-probe |
		"$py" -c 'import json, sys; print(json.load(sys.stdin)["images_per_second"])'
}

# ours_ips prints the images/s of BenchmarkForward in precision $1, or nothing where the
# benchmark skips it.
ours_ips() {
	GOMAXPROCS=$threads go test -run '^$' \
		-bench "^BenchmarkForward\$/^width=128,batch=$batch,precision=$1," \
		-benchtime "${iters}x" ./nasnet/ |
		awk '{for (i = 2; i <= NF; i++) if ($i == "images/s") print $(i-1)}'
}

nchw=$(torch_ips nchw)
ours=$(ours_ips fp32)
last=$(torch_ips channels_last)
ours_bf16=$(ours_ips bf16)
# Without AVX512_BF16, PyTorch's bf16 convolutions fall back to a kernel tens of times slower
# than fp32, so both bf16 figures are measured only where ours exists.
torch_bf16=""
if [ -n "$ours_bf16" ]; then
	torch_bf16=$(torch_ips bf16)
fi
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
echo "eval, width 128, batch $batch, $threads threads; $(date -u +%F), $cpu"
printf '%-34s %10s %8s\n' setting images/s ratio
printf '%-34s %10.2f %8s\n' "ours (go test -bench)" "$ours" "1.00"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
printf '%-34s %10.2f %8s\n' "PyTorch eager NCHW" "$nchw" "$(ratio "$ours" "$nchw")"
printf '%-34s %10.2f %8s\n' "PyTorch channels_last" "$last" "$(ratio "$ours" "$last")"
if [ -n "$ours_bf16" ]; then
	printf '%-34s %10.2f %8s\n' "ours bf16 (go test -bench)" "$ours_bf16" "1.00"
	printf '%-34s %10.2f %8s\n' "PyTorch bf16 autocast, ch_last" "$torch_bf16" \
		"$(ratio "$ours_bf16" "$torch_bf16")"
else
	echo "bf16: not measured, this CPU has no AVX512_BF16"
fi
echo "ratio = ours / PyTorch images/s"
