"""Workloads: what is computed, lowered to GEMMs (``a`` = activations m×k, ``b`` = k×n).

Records: :class:`Gemm`, :class:`Conv2d` (im2col), :class:`Attention` (QKᵀ and PV per KV head
group), :class:`Transformer` (a decoder-only LLM in its prefill or decode phase). Every workload
has ``layers()`` — a tuple of :class:`Gemm` with a ``count`` of identical repetitions, each a
``batch`` of independent GEMMs computed together (the heads of an attention layer) — and
``memory()`` — the elements it keeps resident (weights, KV cache, largest activation).

A registry of named transformer workloads::

    >>> from simulator import workloads
    >>> w = workloads.get("llama2-7b-decode")            # batch 1, context 2048
    >>> w = workloads.get("llama3-8b-prefill", batch=4, context=4096)
    >>> workloads.names()[:2]
    ['llama2-13b-decode', 'llama2-13b-prefill']
"""

from __future__ import annotations

import dataclasses

__all__ = ["Gemm", "Conv2d", "Attention", "TransformerConfig", "Transformer", "MODELS",
           "get", "names", "B_OPERANDS"]

#: what the right-hand operand ``b`` of a GEMM is: model weights, KV cache, or activations
B_OPERANDS = ("weight", "kv", "activation")


def _check_int(name, v, lo=1):
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")


@dataclasses.dataclass(frozen=True)
class Gemm:
    """``count`` identical steps, each ``batch`` independent GEMMs (m×k)@(k×n).

    Args:
        m, k, n: dimensions (``a`` is m×k activations, ``b`` is k×n).
        name: layer name. kind: label used to group layers in reports (default ``name``).
        count: identical repetitions (layers, steps), each a separate call on the machine.
        b_operand: what ``b`` holds: ``"weight"``, ``"kv"`` (KV cache) or ``"activation"``.
        batch: independent GEMMs of this shape computed together in one call (the heads and
            sequences of an attention layer: one batched kernel on a GPU).
        a_elements: distinct elements of ``a`` in memory when fewer than m·k (a convolution's
            input, which im2col repeats); None = m·k.
    """

    m: int
    k: int
    n: int
    name: str = "gemm"
    count: int = 1
    b_operand: str = "weight"
    kind: str = ""
    batch: int = 1
    a_elements: int | None = None

    def __post_init__(self):
        for f in ("m", "k", "n", "count", "batch"):
            _check_int(f, getattr(self, f))
        if self.a_elements is not None:
            _check_int("a_elements", self.a_elements)
        if self.b_operand not in B_OPERANDS:
            raise ValueError(f"b_operand must be one of {B_OPERANDS}, got {self.b_operand!r}")
        if not self.kind:
            object.__setattr__(self, "kind", self.name)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of all ``count`` × ``batch`` GEMMs."""
        return self.m * self.k * self.n * self.count * self.batch

    def layers(self) -> tuple[Gemm, ...]:
        return (self,)

    def memory(self) -> dict:
        """Resident elements: weights (if ``b`` is weights), KV cache (if ``b`` is KV)."""
        b = self.k * self.n * self.count * self.batch
        return {"weights": b if self.b_operand == "weight" else 0,
                "kv_cache": b if self.b_operand == "kv" else 0,
                "activations": self.m * max(self.k, self.n)}


@dataclasses.dataclass(frozen=True)
class Conv2d:
    """A 2D convolution lowered to a GEMM by im2col (as SCALE-Sim does).

    m = batch·out_h·out_w output pixels, k = in_channels·kernel_h·kernel_w, n = out_channels,
    with out = ⌊(in + 2·padding − kernel)/stride⌋ + 1. The GEMM's ``a_elements`` is the input
    the convolution actually reads — batch·in_channels × the rows and columns its windows touch
    (padding excluded) — so DRAM traffic counts the unique input, not the im2col matrix.
    """

    batch: int
    in_channels: int
    out_channels: int
    height: int
    width: int
    kernel_h: int
    kernel_w: int | None = None
    stride: int = 1
    padding: int = 0
    name: str = "conv"

    def __post_init__(self):
        if self.kernel_w is None:
            object.__setattr__(self, "kernel_w", self.kernel_h)
        for f in ("batch", "in_channels", "out_channels", "height", "width", "kernel_h",
                  "kernel_w", "stride"):
            _check_int(f, getattr(self, f))
        _check_int("padding", self.padding, lo=0)
        for k, size, out in (("kernel_h", "height", self.out_h), ("kernel_w", "width", self.out_w)):
            if out < 1:
                raise ValueError(f"{k} ({getattr(self, k)}) must be at most {size} + 2·padding "
                                 f"({getattr(self, size) + 2 * self.padding})")

    @property
    def out_h(self) -> int:
        return (self.height + 2 * self.padding - self.kernel_h) // self.stride + 1

    @property
    def out_w(self) -> int:
        return (self.width + 2 * self.padding - self.kernel_w) // self.stride + 1

    def _touched(self, size, kernel, out) -> int:
        """Input rows (or columns) some window reads: the span of the windows (only the
        windows themselves when the stride skips pixels), at most the unpadded input."""
        return min((out - 1) * self.stride + kernel, out * kernel, size)

    @property
    def input_elements(self) -> int:
        """Distinct input elements the convolution reads."""
        return (self.batch * self.in_channels * self._touched(self.height, self.kernel_h, self.out_h)
                * self._touched(self.width, self.kernel_w, self.out_w))

    def layers(self) -> tuple[Gemm, ...]:
        m, k = self.batch * self.out_h * self.out_w, self.in_channels * self.kernel_h * self.kernel_w
        return (Gemm(m, k, self.out_channels, name=self.name, kind="conv",
                     a_elements=min(self.input_elements, m * k)),)

    def memory(self) -> dict:
        g = self.layers()[0]
        return {"weights": g.k * g.n, "kv_cache": 0,
                "activations": self.batch * self.in_channels * self.height * self.width}


@dataclasses.dataclass(frozen=True)
class Attention:
    """Scaled dot-product attention as two GEMMs per KV head (grouped-query aware).

    The queries of the ``heads // kv_heads`` heads sharing a KV head are stacked, so per batch
    element and KV head: QKᵀ is (group·q_len × head_dim)@(head_dim × kv_len) and PV is
    (group·q_len × kv_len)@(kv_len × head_dim); ``b`` is the KV cache. The batch·kv_heads GEMMs
    of a layer are one batched call (``Gemm.batch``), repeated ``count`` times (layers). The
    causal mask is not exploited (full q_len × kv_len scores).
    """

    batch: int
    heads: int
    kv_heads: int
    q_len: int
    kv_len: int
    head_dim: int
    name: str = "attn"
    count: int = 1

    def __post_init__(self):
        for f in ("batch", "heads", "kv_heads", "q_len", "kv_len", "head_dim", "count"):
            _check_int(f, getattr(self, f))
        if self.heads % self.kv_heads:
            raise ValueError(f"heads ({self.heads}) must be a multiple of kv_heads ({self.kv_heads})")

    def layers(self) -> tuple[Gemm, ...]:
        group = self.heads // self.kv_heads
        bt = self.batch * self.kv_heads
        m = group * self.q_len
        return (Gemm(m, self.head_dim, self.kv_len, name=f"{self.name}.qk", count=self.count,
                     b_operand="kv", kind="attn_qk", batch=bt),
                Gemm(m, self.kv_len, self.head_dim, name=f"{self.name}.pv", count=self.count,
                     b_operand="kv", kind="attn_pv", batch=bt))

    def memory(self) -> dict:
        kv = 2 * self.batch * self.kv_heads * self.kv_len * self.head_dim * self.count
        return {"weights": 0, "kv_cache": kv,
                "activations": self.batch * self.heads * self.q_len * self.kv_len}


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
    """Shape of a decoder-only transformer (LLaMA family: SwiGLU MLP, grouped-query attention)."""

    name: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    head_dim: int | None = None
    source: str = dataclasses.field(default="", compare=False)

    def __post_init__(self):
        for f in ("hidden", "layers", "heads", "kv_heads", "intermediate", "vocab"):
            _check_int(f, getattr(self, f))
        if self.head_dim is None:
            if self.hidden % self.heads:
                raise ValueError(f"hidden ({self.hidden}) must be a multiple of heads "
                                 f"({self.heads}) unless head_dim is given")
            object.__setattr__(self, "head_dim", self.hidden // self.heads)
        _check_int("head_dim", self.head_dim)
        if self.heads % self.kv_heads:
            raise ValueError(f"heads ({self.heads}) must be a multiple of kv_heads ({self.kv_heads})")

    @property
    def parameters(self) -> int:
        """Weight elements: per block q,k,v,o and the three MLP matrices; embedding and LM head
        (untied); norms excluded."""
        h, d = self.hidden, self.head_dim
        attn = h * self.heads * d * 2 + h * self.kv_heads * d * 2
        mlp = 3 * h * self.intermediate
        return self.layers * (attn + mlp) + 2 * self.vocab * h


#: Built-in model shapes (from each model's published config.json on the Hugging Face Hub).
MODELS = {
    "llama2-7b": TransformerConfig(
        "llama2-7b", hidden=4096, layers=32, heads=32, kv_heads=32, intermediate=11008,
        vocab=32000, source="meta-llama/Llama-2-7b-hf config.json"),
    "llama2-13b": TransformerConfig(
        "llama2-13b", hidden=5120, layers=40, heads=40, kv_heads=40, intermediate=13824,
        vocab=32000, source="meta-llama/Llama-2-13b-hf config.json"),
    "llama2-70b": TransformerConfig(
        "llama2-70b", hidden=8192, layers=80, heads=64, kv_heads=8, intermediate=28672,
        vocab=32000, source="meta-llama/Llama-2-70b-hf config.json"),
    "llama3-8b": TransformerConfig(
        "llama3-8b", hidden=4096, layers=32, heads=32, kv_heads=8, intermediate=14336,
        vocab=128256, source="meta-llama/Meta-Llama-3-8B config.json"),
    "llama3-70b": TransformerConfig(
        "llama3-70b", hidden=8192, layers=80, heads=64, kv_heads=8, intermediate=28672,
        vocab=128256, source="meta-llama/Meta-Llama-3-70B config.json (Llama 3.1/3.3 70B: "
                             "the same shapes)"),
}

PHASES = ("prefill", "decode")


@dataclasses.dataclass(frozen=True)
class Transformer:
    """An LLM forward pass: ``prefill`` of ``context`` prompt tokens, or one ``decode`` step
    with ``context`` tokens already in the KV cache, for ``batch`` sequences.

    Layers per block (× ``config.layers``): q/k/v/o projections, attention (QKᵀ, PV), gate/up/
    down MLP projections; then the LM head for the last token of each sequence.
    """

    config: TransformerConfig
    phase: str
    batch: int = 1
    context: int = 2048

    def __post_init__(self):
        if not isinstance(self.config, TransformerConfig):
            raise TypeError("config must be a TransformerConfig")
        if self.phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, got {self.phase!r}")
        _check_int("batch", self.batch)
        _check_int("context", self.context)

    @property
    def name(self) -> str:
        return f"{self.config.name}-{self.phase}"

    @property
    def tokens(self) -> int:
        """Tokens processed in this pass (batch × context for prefill, batch for decode)."""
        return self.batch * (self.context if self.phase == "prefill" else 1)

    def layers(self) -> tuple[Gemm, ...]:
        c, t, L = self.config, self.tokens, self.config.layers
        h, d = c.hidden, c.head_dim
        q_len = self.context if self.phase == "prefill" else 1
        attn = Attention(self.batch, c.heads, c.kv_heads, q_len, self.context, d,
                         name="attn", count=L)
        return (
            Gemm(t, h, c.heads * d, name="q_proj", count=L),
            Gemm(t, h, c.kv_heads * d, name="k_proj", count=L),
            Gemm(t, h, c.kv_heads * d, name="v_proj", count=L),
            *attn.layers(),
            Gemm(t, c.heads * d, h, name="o_proj", count=L),
            Gemm(t, h, c.intermediate, name="gate_proj", count=L),
            Gemm(t, h, c.intermediate, name="up_proj", count=L),
            Gemm(t, c.intermediate, h, name="down_proj", count=L),
            Gemm(self.batch, h, c.vocab, name="lm_head"),
        )

    def memory(self) -> dict:
        """Resident elements: all weights (embedding and LM head included), the KV cache of
        ``batch × context`` tokens, and the largest activation of the pass."""
        c = self.config
        kv = 2 * c.layers * self.batch * self.context * c.kv_heads * c.head_dim
        act = self.tokens * max(c.hidden, c.intermediate)
        return {"weights": c.parameters, "kv_cache": kv, "activations": act}


def names() -> list[str]:
    """Names of the registered workloads (``<model>-prefill`` / ``<model>-decode``), sorted."""
    return sorted(f"{m}-{p}" for m in MODELS for p in PHASES)


def get(name: str, *, batch: int = 1, context: int = 2048) -> Transformer:
    """The named workload.

    Args:
        name: ``"<model>-<phase>"``, e.g. ``"llama2-7b-decode"`` (see :func:`names`).
        batch: sequences (default 1).
        context: prompt length for prefill; tokens already in the KV cache for decode (2048).

    Raises:
        ValueError: unknown name (the message lists the names), bad batch/context.
    """
    if not isinstance(name, str):
        raise TypeError(f"workload name must be a str, got {type(name).__name__}")
    model, _, phase = name.strip().lower().rpartition("-")
    if model not in MODELS or phase not in PHASES:
        raise ValueError(f"unknown workload {name!r}; workloads: {', '.join(names())}")
    return Transformer(MODELS[model], phase, batch=batch, context=context)
