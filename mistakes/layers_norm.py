"""Mistakes in normalization, dropout, embedding, attention and the margin loss."""

from __future__ import annotations

import math

import numpy as np

from . import mistake


def _probs(q, k, mask):
    """softmax(Q Kᵀ/√d) over the keys, masked entries 0 (as impl.attention)."""
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# -- normalization -----------------------------------------------------------------------------
@mistake("batchnorm_backward", "mlpack/mlpack PR #1327 (BatchNorm backward failed the gradient "
         "check)", "Batch norm's dx treats the batch mean and variance as constants: "
         "dx = γ·g/σ, dropping the −Σg/M and −x̂·Σ(g·x̂)/M terms.")
def batchnorm_dx_no_stat_terms(grad_out, x, gamma, beta, eps=1e-5):
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mu = x.mean(axis=axes, keepdims=True)
    inv = 1 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    dx = grad_out * gamma.reshape(shape) * inv
    return dx, (grad_out * (x - mu) * inv).sum(axis=axes), grad_out.sum(axis=axes)


@mistake("batchnorm", "pytorch/pytorch #19902 (a hand-written BatchNorm with torch.var's "
         "default unbiased=True)", "Batch norm normalizes with the unbiased variance "
         "(divides by M − 1); training-mode batch norm uses the biased one (divides by M).")
def batchnorm_unbiased_var(x, gamma, beta, eps=1e-5):
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    xc = x - x.mean(axis=axes, keepdims=True)
    xhat = xc / np.sqrt(x.var(axis=axes, keepdims=True, ddof=1) + eps)
    return xhat * gamma.reshape(shape) + beta.reshape(shape)


@mistake("layernorm", "CS231n assignment 2, layernorm_forward (batch norm code reused "
         "without the transpose)", "Layer norm takes its statistics over the batch (axis 0, "
         "batch norm's axis) instead of over the features (the last axis).")
def layernorm_batch_axis(x, gamma, beta, eps=1e-5):
    xc = x - x.mean(axis=0, keepdims=True)
    return xc / np.sqrt((xc * xc).mean(axis=0, keepdims=True) + eps) * gamma + beta


# -- dropout -----------------------------------------------------------------------------------
@mistake("dropout_backward", "CS231n notes, inverted dropout (a backward that reuses the raw "
         "0/1 mask)", "Dropout's backward forgets the 1/(1 − p) scale the forward applied: "
         "dx = g·mask.")
def dropout_backward_unscaled(grad_out, x, mask, p=0.5):
    return (grad_out * mask).astype(x.dtype)


@mistake("dropout", "lmjohns3/theanets PR #123 (divide by (1 − weight) rather than weight)",
         "Dropout scales the kept units by 1/p, p being the drop probability, instead of "
         "1/(1 − p).")
def dropout_divides_by_p(x, mask, p=0.5):
    return (x * mask / p).astype(x.dtype)


# -- embedding ---------------------------------------------------------------------------------
@mistake("embedding_backward", "Saito, Deep Learning from Scratch 2, sec. 4.1 (its wrong "
         "Embedding.backward); numpy.ufunc.at docs", "The embedding gradient is accumulated "
         "with fancy-index assignment dW[ids] += g, which keeps one of the repeated ids "
         "instead of summing them (np.add.at sums).")
def embedding_fancy_index(grad_out, ids, weight):
    dw = np.zeros_like(weight)
    dw[ids.reshape(-1)] += grad_out.reshape(-1, weight.shape[1])
    return dw


# -- attention ---------------------------------------------------------------------------------
@mistake("attention_backward", "mlc-ai/mlc-llm PR #3426 and delzac/cntkx #10 (attention "
         "without its 1/√d); here in a hand-written backward", "The attention backward "
         "forgets the 1/√d scale of S = QKᵀ/√d in dQ and dK (the forward has it).")
def attention_backward_no_scale(grad_out, q, k, v, mask=None):
    p = _probs(q, k, mask)
    dp = grad_out @ np.swapaxes(v, -1, -2)
    ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))
    return ds @ k, np.swapaxes(ds, -1, -2) @ q, np.swapaxes(p, -1, -2) @ grad_out


@mistake("attention_backward", "jamesmullenbach/caml-mimic #13, lucidrains/x-transformers #168 "
         "(masked keys must get no gradient)", "The attention backward recomputes the softmax "
         "without the mask, so gradient flows to masked keys and values.")
def attention_backward_unmasked(grad_out, q, k, v, mask=None):
    p = _probs(q, k, None)
    scale = 1 / math.sqrt(q.shape[-1])
    dp = grad_out @ np.swapaxes(v, -1, -2)
    ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True)) * scale
    return ds @ k, np.swapaxes(ds, -1, -2) @ q, np.swapaxes(p, -1, -2) @ grad_out


@mistake("attention_backward", "classic (the 2-D derivation with Tq = Tk)", "dK is computed "
         "as dS·Q instead of dSᵀ·Q: only shape-compatible when Tq = Tk.")
def attention_dk_not_transposed(grad_out, q, k, v, mask=None):
    p = _probs(q, k, mask)
    scale = 1 / math.sqrt(q.shape[-1])
    dp = grad_out @ np.swapaxes(v, -1, -2)
    ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True)) * scale
    return ds @ k, ds @ q, np.swapaxes(p, -1, -2) @ grad_out


# -- multiclass margin loss --------------------------------------------------------------------
def _margin_grad(grad_out, scores, labels, margin, reduction, count_y=False, per_c=True):
    n, c = scores.reshape(-1, scores.shape[-1]).shape
    s = scores.reshape(n, c)
    y = np.asarray(labels).reshape(-1).astype(int)
    rows = np.arange(n)
    active = (margin - s[rows, y][:, None] + s > 0).astype(scores.dtype)
    if not count_y:
        active[rows, y] = 0
    ds = active.copy()
    ds[rows, y] = -active.sum(axis=1)
    scale = (1 / c if per_c else 1.0) / (n if reduction == "mean" else 1)
    return (grad_out * scale * ds).astype(scores.dtype).reshape(scores.shape)


@mistake("multi_margin_backward", "CS231n assignment 1, svm_loss_vectorized (the margin at "
         "j = y not zeroed before counting)", "The margin loss counts j = y (whose margin is "
         "always active) among the active margins: ds_y = −(k + 1)/C instead of −k/C.")
def margin_counts_label(grad_out, scores, labels, margin=1.0, reduction="mean"):
    return _margin_grad(grad_out, scores, labels, margin, reduction, count_y=True)


@mistake("multi_margin_backward", "CS231n notes, multiclass SVM loss (no 1/C) vs torch's "
         "multi_margin_loss", "The margin loss gradient misses torch's 1/C: the multiclass "
         "SVM of the CS231n notes sums the margins without dividing by the class count.")
def margin_missing_per_class(grad_out, scores, labels, margin=1.0, reduction="mean"):
    return _margin_grad(grad_out, scores, labels, margin, reduction, per_c=False)
