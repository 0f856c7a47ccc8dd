#!/usr/bin/env bash
# Measures one 3×3 convolution layer, 128→128 channels on a [32, 128, 32, 32] input with
# ReLU, in PyTorch and in this engine in one run, and prints images/s and the ratio. It also
# prints the rate of the GEMM micro-kernel alone and of a whole 3×3 128-channel product as a
# percentage of the FMA peak that the probe benchmark measures in the same run. Environment: THREADS (2),
# PYTHON (/usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-/usr/bin/python3}
threads=${THREADS:-2}

torch_ips() {
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$py" bench/torch_conv.py --mode "$1" \
		--threads "$threads" |
		"$py" -c 'import json, sys; print(json.load(sys.stdin)["images_per_second"])'
}

# ours_ips converts ns/op of one batch of 32 images into images/s.
ours_ips() {
	GOMAXPROCS=$threads go test -run '^$' \
		-bench '^BenchmarkConv2D$/^in=128,out=128,k=3,hw=32,batch=32,' -benchtime 10x \
		./backend/cpu/ | awk '$4 == "ns/op" { printf "%.2f\n", 32e9 / $3 }'
}

# peak prints the metric $3 of the first sub-benchmark of kernel path $4 that matches $1, or
# "n/a" when this CPU lacks the path.
peak() {
	GOMAXPROCS=1 go test -run '^$' -bench "$1" -benchtime "$2" ./kernels/ |
		awk -v m="$3" -v p="/$4(-[0-9]+)?$" '$1 ~ p {for (i = 2; i <= NF; i++) if ($i == m)
			print $(i-1)}' | head -1 | grep . || echo n/a
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

ours=$(ours_ips)
nchw=$(torch_ips nchw)
last=$(torch_ips channels_last)
micro=$(peak '^BenchmarkGemmMicroKernel$' 1000000x 'interleaved%peak' avx2fma)
micro512=$(peak '^BenchmarkGemmMicroKernel$' 1000000x 'interleaved%peak' avx512)
whole=$(peak '^BenchmarkSgemmPacked$/^f32/m=128,n=1024,k=1152/' 20x '%peak' avx2fma)
whole512=$(peak '^BenchmarkSgemmPacked$/^f32/m=128,n=1024,k=1152/' 20x '%peak' avx512)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
echo "conv 3x3 128->128 + ReLU, input [32, 128, 32, 32], $threads threads, fp32;" \
	"$(date -u +%F), $cpu"
printf '%-34s %10s %8s\n' setting images/s ratio
printf '%-34s %10.2f %8s\n' "ours (go test -bench Conv2D)" "$ours" "1.00"
printf '%-34s %10.2f %8s\n' "PyTorch eager NCHW" "$nchw" "$(ratio "$ours" "$nchw")"
printf '%-34s %10.2f %8s\n' "PyTorch channels_last" "$last" "$(ratio "$ours" "$last")"
echo "ratio = ours / PyTorch images/s"
echo "GEMM, one thread, share of the widest probe's FMA peak: micro-kernel alone (kc=256," \
	"panels in L1) avx2fma 6x16 $micro %, avx512 16x16 $micro512 %;" \
	"whole SgemmPacked m=128 n=1024 k=1152 avx2fma $whole %, avx512 $whole512 %"
