# Targets for a fresh machine: `make eval` runs the main job, `make test` runs the tests.
GO ?= go
PYTHON ?= /usr/bin/python3
# Packages without assembly, which the race detector checks.
RACE_PKGS = ./tensor/... ./kernels/... ./backend/... ./nn/... ./nasnet/... ./internal/...

.PHONY: all build data eval test vet fmt-check generate generate-check test-asm test-noasm \
	test-race test-enumerate bench bench-deps parity train-default card-eval

all: build

build:
	$(GO) build ./...

# data unpacks CIFAR10_ARCHIVE into data/ when it exists, or downloads the official archive.
CIFAR10_ARCHIVE ?= ../shared/cifar10/cifar-10-binary.tar.gz

data:
	$(GO) run ./nasnet/cmd/fetchdata --from $(CIFAR10_ARCHIVE) --out data

eval: data
	$(GO) run ./nasnet/cmd/eval --data data

# train-default repeats the last training run of the built-in model, which took more than one
# working session of a 2-core machine. The run lives in TRAIN_DIR: the target resumes the
# checkpoint there, or copies the one kept in nasnet/pretrained/training/ there first, or
# starts the run with TRAIN_FLAGS where neither exists.
TRAIN_DIR ?= $(HOME)/.cache/renas
TRAIN_RUN = w64-r8
TRAIN_KEPT = nasnet/pretrained/training/run8-$(TRAIN_RUN).safetensors
TRAIN_FLAGS = --width 64 --checkpoint nasnet/pretrained/training/run7-w64-r7.safetensors \
	--epochs 20 --warmup-epochs 1 --lr 0.02 --batch-size 128 --seed 8 --cutout 16
TRAIN_OUTPUTS = --data data --log $(TRAIN_DIR)/$(TRAIN_RUN).jsonl \
	--plot $(TRAIN_DIR)/$(TRAIN_RUN).png --eval-limit 2000 --checkpoint-interval 2m

train-default: data
	mkdir -p $(TRAIN_DIR)
	if [ ! -f $(TRAIN_DIR)/$(TRAIN_RUN).safetensors ] && [ -f $(TRAIN_KEPT) ]; then \
		cp $(TRAIN_KEPT) $(TRAIN_DIR)/$(TRAIN_RUN).safetensors; fi
	if [ -f $(TRAIN_DIR)/$(TRAIN_RUN).safetensors ]; then \
		$(GO) run ./nasnet/cmd/train --resume $(TRAIN_DIR)/$(TRAIN_RUN).safetensors \
			$(TRAIN_OUTPUTS); \
	else \
		$(GO) run ./nasnet/cmd/train $(TRAIN_FLAGS) \
			--out $(TRAIN_DIR)/$(TRAIN_RUN).safetensors $(TRAIN_OUTPUTS); \
	fi

# card-eval prints, as JSON lines, the model card's figures for the weights in CHECKPOINT
# (the built-in model without it): all 10,000 test images in fp32, with binary16 weights,
# with bf16 convolutions and with flip averaging.
CHECKPOINT ?=
card-eval: data
	$(GO) build -o bin/eval ./nasnet/cmd/eval
	for p in fp32 fp16 bf16; do \
		bin/eval $(if $(CHECKPOINT),--checkpoint $(CHECKPOINT)) --data data --quiet --json \
			--precision $$p || exit 1; done
	bin/eval $(if $(CHECKPOINT),--checkpoint $(CHECKPOINT)) --data data --quiet --json --flip

test: vet fmt-check generate-check test-asm test-noasm test-race

vet:
	$(GO) vet ./...
	$(GO) vet -tags noasm ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then \
		echo "gofmt needed on:"; echo "$$out"; exit 1; fi

GENERATED = kernels/kernels_amd64.s kernels/kernels_amd64.go

# generate rewrites the avo-generated assembly; generate-check fails if the checked-in
# files differ from what the generator writes, and leaves them as they were.
generate:
	$(GO) generate ./kernels/

generate-check:
	@tmp=$$(mktemp -d) && cp $(GENERATED) $$tmp/ && $(GO) generate ./kernels/ && \
	status=0; for f in $(GENERATED); do \
		cmp -s $$f $$tmp/$$(basename $$f) || { echo "$$f differs from kernels/_asm;" \
			"run make generate"; status=1; }; \
		cp $$tmp/$$(basename $$f) $$f; done; rm -rf $$tmp; exit $$status

test-asm:
	$(GO) test -count=1 ./...

test-noasm:
	$(GO) test -count=1 -timeout 30m -tags noasm ./...

test-race:
	$(GO) test -count=1 -race -tags noasm -short $(RACE_PKGS)

# test-enumerate enumerates all 423,624 NAS-Bench-101 cells (under a minute) and checks the
# counts; `make test` runs it twice, in test-asm and test-noasm.
test-enumerate:
	$(GO) test -count=1 -run TestEnumerateSpace ./nasnet/nasbench/

# parity regenerates the PyTorch reference files in nasnet/testdata (needs PyTorch).
parity: bench-deps
	$(PYTHON) bench/make_parity.py

bench-deps:
	@$(PYTHON) -c 'import torch, numpy' 2>/dev/null || \
		(apt-get update -qq && apt-get install -y -qq python3-torch python3-numpy)

bench: bench-deps
	bash bench/compare.sh
	bash bench/compare_train.sh
	WIDTH=128 ITERS=2 bash bench/compare_train.sh
	bash bench/compare_conv.sh
