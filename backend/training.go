package backend

// Trainer is implemented by backends that can train. Its methods mirror the training calls of
// cuDNN: the forward pass of each layer takes its weights as Buffers, since they change every
// step, and each backward method computes the gradients that one layer contributes.
//
// Parameter tensors live in Buffers too: a convolution weight [O, I, kh, kw] as a buffer of
// that shape, a per-channel vector as [1, C, 1, 1] and a dense weight [out, in] as
// [out, in, 1, 1]. Methods whose accumulate argument is true add their result to the output
// buffer, so that the gradient of an activation read by several layers is their sum. With
// accumulate false they overwrite it.
type Trainer interface {
	Backend

	// Conv2DForward computes y = conv(x, w), with no bias and no activation.
	Conv2DForward(d Conv2DDesc, x, w, y Buffer) error
	// Conv2DBackwardData computes the input gradient dx from the output gradient dy.
	Conv2DBackwardData(d Conv2DDesc, w, dy, dx Buffer, accumulate bool) error
	// Conv2DBackwardFilter computes the weight gradient dw (overwritten).
	Conv2DBackwardFilter(d Conv2DDesc, x, dy, dw Buffer) error

	// BatchNormForwardTraining normalizes x with the statistics of the batch, writes
	// y = act(gamma·x̂ + beta), stores the batch mean and 1/sqrt(var + eps) in saveMean and
	// saveInvStd for the backward pass, and updates the running statistics:
	// running = (1 − factor)·running + factor·batch, with the unbiased batch variance.
	BatchNormForwardTraining(d BatchNormDesc, x, y, gamma, beta, runningMean, runningVar,
		saveMean, saveInvStd Buffer, factor float32) error
	// BatchNormBackward computes dx, dgamma and dbeta (all overwritten) from dy and the saved
	// statistics. For the activation's mask, a backend reads the output y of the forward
	// pass, or recomputes it from x, gamma and beta.
	BatchNormBackward(d BatchNormDesc, x, y, dy, gamma, beta, saveMean, saveInvStd, dx,
		dgamma, dbeta Buffer) error

	// ReLUBackward computes dx = dy where the forward output y is positive and 0 elsewhere;
	// dx may be the same buffer as dy.
	ReLUBackward(y, dy, dx Buffer) error

	// PoolBackward computes dx from dy. A max pool sends each output gradient to the first
	// maximum of its window; an average pool spreads it evenly over the window's inputs.
	PoolBackward(d PoolDesc, x, dy, dx Buffer, accumulate bool) error

	// LinearForward computes y = x·wᵀ + bias on x flattened to [N, C·H·W].
	LinearForward(x, w, bias, y Buffer) error
	// LinearBackward computes dx (per accumulate), dw and dbias (both overwritten).
	LinearBackward(x, w, dy, dx, dw, dbias Buffer, accumulate bool) error

	// SGDUpdate applies one step of SGD with momentum to a parameter p with gradient g and
	// velocity v, as PyTorch defines it: d = g + wd·p; v = momentum·v + d;
	// p −= lr·(d + momentum·v) with Nesterov, else p −= lr·v.
	SGDUpdate(p, g, v Buffer, lr, momentum, weightDecay float32, nesterov bool) error
	// SumSquares returns the sum of the squares of the elements of a parameter-shaped
	// buffer, accumulated in float64. Gradient clipping sums it over all gradients.
	SumSquares(x Buffer) (float64, error)
	// Scale multiplies every element of a parameter-shaped buffer by alpha, in place.
	Scale(x Buffer, alpha float32) error

	// AdamUpdate applies step t (from 1) of Adam with moment buffers m and v:
	// g' = g + wd·p; m = β1·m + (1−β1)·g'; v = β2·v + (1−β2)·g'²;
	// p −= lr·(m/(1−β1ᵗ)) / (sqrt(v/(1−β2ᵗ)) + eps).
	AdamUpdate(p, g, m, v Buffer, lr, beta1, beta2, eps, weightDecay float32, t int) error
}
