#!/usr/bin/env bash
# Measures one training step (batch 128) of PyTorch and of this engine in one run and prints
# images/s and the ratio for each PyTorch setting. Environment: WIDTH (64), THREADS (2),
# ITERS (3), PYTHON (/usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-/usr/bin/python3}
width=${WIDTH:-64}
threads=${THREADS:-2}
iters=${ITERS:-3}

torch_ips() {
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$py" bench/torch_train.py --mode "$1" \
		--width "$width" --threads "$threads" --iters "$iters" |
		"$py" -c 'import json, sys; print(json.load(sys.stdin)["images_per_second"])'
}

ours_ips() {
	GOMAXPROCS=$threads go test -run '^$' -bench "^BenchmarkTrainStep\$/^width=$width,batch=128," \
		-benchtime "${iters}x" ./nasnet/ |
		awk '{for (i = 2; i <= NF; i++) if ($i == "images/s") print $(i-1)}'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

ours=$(ours_ips)
nchw=$(torch_ips nchw)
last=$(torch_ips channels_last)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
echo "training step, width $width, batch 128, $threads threads, fp32; $(date -u +%F), $cpu"
printf '%-34s %10s %8s\n' setting images/s ratio
printf '%-34s %10.2f %8s\n' "ours (go test -bench)" "$ours" "1.00"
printf '%-34s %10.2f %8s\n' "PyTorch eager NCHW" "$nchw" "$(ratio "$ours" "$nchw")"
printf '%-34s %10.2f %8s\n' "PyTorch channels_last" "$last" "$(ratio "$ours" "$last")"
echo "ratio = ours / PyTorch images/s"
