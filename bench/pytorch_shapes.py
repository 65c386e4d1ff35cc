#!/usr/bin/env python3
"""Check tests/shape_table.txt against PyTorch.

Each non-comment line of the table reads

    [input dims] | layer | [output dims] | trainable params

with per-sample shapes (the batch dimension is implicit). For every row this
script parses the nnspec layer expression, builds the corresponding torch.nn
module (for `reshape` the torch op), runs a forward pass on a random batch of 2,
and compares the per-sample output shape and the trainable parameter count with
the row. Each row is printed with OK / MISMATCH / ERROR; the exit status is 1 if
any row is not OK (or the table has no rows), else 0.

    python3 bench/pytorch_shapes.py [TABLE]
    python3 bench/pytorch_shapes.py --fill [TABLE]   # print the table with the
        output dims and params columns recomputed by PyTorch (use `?` as a
        placeholder when adding rows); comment lines are kept as they are.

Layer syntax (a name, optionally followed by arguments in parentheses;
positional arguments come first, then `name: value` ones; values are integers,
floats, `true`/`false`, words such as `tanh`, or `[a, b, ...]` lists):

    dense(out, bias: B)                 nn.Linear on [in] or, at every position, [len, in]
    conv2d(out_channels, kernel: K, stride: S, padding: P, dilation: D, bias: B)
                                        nn.Conv2d on [C, H, W]
    maxpool2d(K, stride: S, padding: P) nn.MaxPool2d on [C, H, W]
    avgpool2d(K, stride: S, padding: P) nn.AvgPool2d on [C, H, W]
    conv1d(out_channels, kernel: K, stride: S, padding: P, dilation: D, bias: B)
                                        nn.Conv1d on [C, L] (integers only)
    maxpool1d(K, stride: S, padding: P) nn.MaxPool1d on [C, L]
    avgpool1d(K, stride: S, padding: P) nn.AvgPool1d on [C, L]
    flatten                             nn.Flatten()
    reshape([a, b, ...])                per-sample reshape, one entry may be -1
    relu, sigmoid, tanh                 nn.ReLU / nn.Sigmoid / nn.Tanh
    leaky_relu(negative_slope: F)       nn.LeakyReLU (PyTorch default slope 0.01)
    gelu(approximate: none|tanh)        nn.GELU
    silu, hardswish                     nn.SiLU / nn.Hardswish
    elu(alpha: F)                       nn.ELU (default 1.0)
    softplus(beta: F, threshold: F)     nn.Softplus (defaults 1.0, 20.0)
    softmax(axis: A)                    nn.Softmax over per-sample axis A (default: last)
    dropout(P)                          nn.Dropout(P)
    batchnorm                           nn.BatchNorm1d on [F], nn.BatchNorm2d on [C, H, W]
    layernorm(eps: F, elementwise_affine: B)
                                        nn.LayerNorm over the last dim
    mean(axis: A)                       torch.mean over per-sample axis A, dropped
    attention(heads, causal: B)         nn.MultiheadAttention(F, heads, batch_first=True)
                                        on [L, F], query = key = value
    lstm(hidden, layers: L)             nn.LSTM(batch_first=True) on [len, F], its output sequence
    last                                x[:, -1] on [len, F]
    embedding(num, dim)                 nn.Embedding on int64 token ids of any shape
    global_avgpool2d                    nn.AdaptiveAvgPool2d(1) on [C, H, W]
    adaptive_avgpool2d(out: O)          nn.AdaptiveAvgPool2d(O) on [C, H, W], O an integer or [h, w]

K, S, P, D are an integer or a pair [h, w].
"""

import os
import re
import sys

import torch
from torch import nn

BATCH = 2
DEFAULT_TABLE = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "shape_table.txt"))


class RowError(Exception):
    """A row that cannot be parsed or whose layer cannot be built/applied."""


# ---------------------------------------------------------------------------
# Parsing

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<float>-?(?:\d+\.\d*(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+))
  | (?P<int>-?\d+)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[\[\](),:])
  | (?P<bad>.)
    """,
    re.VERBOSE,
)


def tokenize(text):
    tokens = []
    for m in _TOKEN_RE.finditer(text):
        kind = m.lastgroup
        value = m.group()
        if kind == "ws":
            continue
        if kind == "bad":
            raise RowError(f"unexpected character {value!r} in {text!r}")
        if kind == "int":
            tokens.append(("num", int(value)))
        elif kind == "float":
            tokens.append(("num", float(value)))
        elif kind == "ident":
            if value == "true":
                tokens.append(("bool", True))
            elif value == "false":
                tokens.append(("bool", False))
            else:
                tokens.append(("ident", value))
        else:
            tokens.append(("punct", value))
    tokens.append(("end", None))
    return tokens


class Parser:
    def __init__(self, text):
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0

    def peek(self, offset=0):
        return self.tokens[self.pos + offset]

    def next(self):
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def expect(self, kind, value=None):
        tok = self.next()
        if tok[0] != kind or (value is not None and tok[1] != value):
            want = value if value is not None else kind
            got = tok[1] if tok[0] != "end" else "end of input"
            raise RowError(f"expected {want!r}, found {got!r} in {self.text!r}")
        return tok

    def at_punct(self, value):
        tok = self.peek()
        return tok[0] == "punct" and tok[1] == value

    def value(self):
        tok = self.peek()
        if tok[0] in ("num", "bool"):
            self.next()
            return tok[1]
        # A word (gelu's `approximate: tanh`), passed on as a string.
        if tok[0] == "ident":
            self.next()
            return tok[1]
        if self.at_punct("["):
            self.next()
            items = [self.value()]
            while self.at_punct(","):
                self.next()
                items.append(self.value())
            self.expect("punct", "]")
            return items
        got = tok[1] if tok[0] != "end" else "end of input"
        raise RowError(f"expected a value, found {got!r} in {self.text!r}")

    def layer(self):
        name = self.expect("ident")[1]
        positional, named = [], {}
        if self.at_punct("("):
            self.next()
            if not self.at_punct(")"):
                while True:
                    if self.peek()[0] == "ident" and self.peek(1) == ("punct", ":"):
                        key = self.next()[1]
                        self.next()
                        if key in named:
                            raise RowError(f"argument {key!r} given twice in {self.text!r}")
                        named[key] = self.value()
                    else:
                        if named:
                            raise RowError(f"positional argument after named ones in {self.text!r}")
                        positional.append(self.value())
                    if self.at_punct(","):
                        self.next()
                        continue
                    break
            self.expect("punct", ")")
        self.expect("end")
        return name, positional, named


def parse_dims(text, what):
    p = Parser(text)
    try:
        dims = p.value()
        p.expect("end")
    except RowError as e:
        raise RowError(f"{what}: {e}") from None
    if not isinstance(dims, list) or not all(type(d) is int and d > 0 for d in dims):
        raise RowError(f"{what}: expected a list of positive integers, got {text!r}")
    return dims


def parse_row(line):
    fields = [f.strip() for f in line.split("|")]
    if len(fields) != 4:
        raise RowError(f"expected 4 fields separated by '|', found {len(fields)}")
    in_text, layer_text, out_text, params_text = fields
    # Layers of several inputs (add, concat) list them joined by " + ".
    in_dims = [parse_dims(part, "input dims") for part in in_text.split(" + ")]
    layer = Parser(layer_text).layer()
    out_dims = None if out_text == "?" else parse_dims(out_text, "output dims")
    if params_text == "?":
        params = None
    elif re.fullmatch(r"\d+", params_text):
        params = int(params_text)
    else:
        raise RowError(f"params: expected a non-negative integer, got {params_text!r}")
    return in_dims, layer_text, layer, out_dims, params


# ---------------------------------------------------------------------------
# Building the PyTorch equivalent

# name -> (required positional argument names, allowed named arguments)
SIGNATURES = {
    "dense": (["out"], {"bias"}),
    "conv2d": (["out_channels"], {"kernel", "stride", "padding", "dilation", "bias", "groups"}),
    "maxpool2d": (["kernel"], {"stride", "padding"}),
    "avgpool2d": (["kernel"], {"stride", "padding"}),
    "conv1d": (["out_channels"], {"kernel", "stride", "padding", "dilation", "bias"}),
    "maxpool1d": (["kernel"], {"stride", "padding"}),
    "avgpool1d": (["kernel"], {"stride", "padding"}),
    "flatten": ([], set()),
    "reshape": (["shape"], set()),
    "relu": ([], set()),
    "leaky_relu": ([], {"negative_slope"}),
    "sigmoid": ([], set()),
    "tanh": ([], set()),
    "gelu": ([], {"approximate"}),
    "silu": ([], set()),
    "hardswish": ([], set()),
    "elu": ([], {"alpha"}),
    "softplus": ([], {"beta", "threshold"}),
    "softmax": ([], {"axis"}),
    "dropout": (["p"], set()),
    "batchnorm": ([], set()),
    "layernorm": ([], {"eps", "elementwise_affine"}),
    "mean": ([], {"axis"}),
    "attention": (["heads"], {"causal"}),
    "global_avgpool2d": ([], set()),
    "adaptive_avgpool2d": (["out"], set()),
    "add": ([], set()),
    "mul": ([], set()),
    "concat": ([], {"axis"}),
    "lstm": (["hidden"], {"layers"}),
    "last": ([], set()),
    "embedding": (["num", "dim"], set()),
}


def is_int(v):
    return type(v) is int


def is_number(v):
    return type(v) in (int, float)


def int_arg(args, key, minimum):
    v = args[key]
    if not is_int(v) or v < minimum:
        raise RowError(f"{key}: expected an integer >= {minimum}, got {v!r}")
    return v


def int_or_pair(args, key, minimum):
    """An integer or a pair [h, w]; returned as an (h, w) tuple."""
    v = args[key]
    if is_int(v):
        v = [v, v]
    if not (isinstance(v, list) and len(v) == 2 and all(is_int(x) and x >= minimum for x in v)):
        raise RowError(f"{key}: expected an integer or a pair [h, w] of integers >= {minimum}, got {v!r}")
    return tuple(v)


def bool_arg(args, key, default):
    if key not in args:
        return default
    v = args[key]
    if type(v) is not bool:
        raise RowError(f"{key}: expected true or false, got {v!r}")
    return v


def require_rank(in_dims, ranks, name):
    if len(in_dims) not in ranks:
        want = " or ".join(f"rank {r}" for r in ranks)
        raise RowError(f"{name} expects a per-sample input of {want}, got {in_dims}")


class Mean(nn.Module):
    """torch.mean over a per-sample axis (keepdim false)."""

    def __init__(self, axis):
        super().__init__()
        self.dim = axis + 1 if axis >= 0 else axis

    def forward(self, x):
        return torch.mean(x, dim=self.dim)


class Reshape(nn.Module):
    """Per-sample reshape, as the torch op x.reshape(batch, *shape)."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


class LstmSequence(nn.Module):
    """nn.LSTM's output sequence (the module returns it with the final state)."""

    def __init__(self, features, hidden, layers):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, num_layers=layers, batch_first=True)

    def forward(self, x):
        return self.lstm(x)[0]


class Last(nn.Module):
    """The last step of a batch-first sequence."""

    def forward(self, x):
        return x[:, -1]


def build(in_dims, layer):
    name, positional, named = layer
    if name not in SIGNATURES:
        raise RowError(f"unknown layer {name!r}")
    pos_names, named_ok = SIGNATURES[name]
    if len(positional) != len(pos_names):
        raise RowError(f"{name} takes {len(pos_names)} positional argument(s), got {len(positional)}")
    unknown = set(named) - named_ok
    if unknown:
        raise RowError(f"{name}: unknown argument(s) {sorted(unknown)}")
    args = dict(zip(pos_names, positional))
    args.update(named)

    if name == "dense":
        require_rank(in_dims, (1, 2), name)
        return nn.Linear(in_dims[-1], int_arg(args, "out", 1), bias=bool_arg(args, "bias", True))

    if name == "conv2d":
        require_rank(in_dims, (3,), name)
        if "kernel" not in args:
            raise RowError("conv2d: missing argument 'kernel'")
        return nn.Conv2d(
            in_dims[0],
            int_arg(args, "out_channels", 1),
            kernel_size=int_or_pair(args, "kernel", 1),
            stride=int_or_pair(args, "stride", 1) if "stride" in args else 1,
            padding=int_or_pair(args, "padding", 0) if "padding" in args else 0,
            dilation=int_or_pair(args, "dilation", 1) if "dilation" in args else 1,
            bias=bool_arg(args, "bias", True),
            groups=int_arg(args, "groups", 1) if "groups" in args else 1,
        )

    if name in ("maxpool2d", "avgpool2d"):
        require_rank(in_dims, (3,), name)
        cls = nn.MaxPool2d if name == "maxpool2d" else nn.AvgPool2d
        return cls(
            int_or_pair(args, "kernel", 1),
            # stride=None is PyTorch's own "same as kernel_size" default
            stride=int_or_pair(args, "stride", 1) if "stride" in args else None,
            padding=int_or_pair(args, "padding", 0) if "padding" in args else 0,
        )

    if name == "conv1d":
        require_rank(in_dims, (2,), name)
        if "kernel" not in args:
            raise RowError("conv1d: missing argument 'kernel'")
        return nn.Conv1d(
            in_dims[0],
            int_arg(args, "out_channels", 1),
            kernel_size=int_arg(args, "kernel", 1),
            stride=int_arg(args, "stride", 1) if "stride" in args else 1,
            padding=int_arg(args, "padding", 0) if "padding" in args else 0,
            dilation=int_arg(args, "dilation", 1) if "dilation" in args else 1,
            bias=bool_arg(args, "bias", True),
        )

    if name in ("maxpool1d", "avgpool1d"):
        require_rank(in_dims, (2,), name)
        cls = nn.MaxPool1d if name == "maxpool1d" else nn.AvgPool1d
        return cls(
            int_arg(args, "kernel", 1),
            stride=int_arg(args, "stride", 1) if "stride" in args else None,
            padding=int_arg(args, "padding", 0) if "padding" in args else 0,
        )

    if name == "flatten":
        return nn.Flatten()

    if name == "reshape":
        shape = args["shape"]
        if not (isinstance(shape, list) and shape and all(is_int(d) and (d > 0 or d == -1) for d in shape)):
            raise RowError(f"reshape: expected a list of positive integers or -1, got {shape!r}")
        if shape.count(-1) > 1:
            raise RowError("reshape: at most one entry may be -1")
        return Reshape(shape)

    if name == "relu":
        return nn.ReLU()
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "tanh":
        return nn.Tanh()

    if name == "gelu":
        approximate = args.get("approximate", "none")
        if approximate not in ("none", "tanh"):
            raise RowError(f"gelu: approximate must be none or tanh, got {approximate!r}")
        return nn.GELU(approximate=approximate)
    if name == "silu":
        return nn.SiLU()
    if name == "hardswish":
        return nn.Hardswish()
    if name == "elu":
        alpha = args.get("alpha", 1.0)
        if not is_number(alpha):
            raise RowError(f"elu: alpha must be a number, got {alpha!r}")
        return nn.ELU(alpha=float(alpha))
    if name == "softplus":
        beta, threshold = args.get("beta", 1.0), args.get("threshold", 20.0)
        if not (is_number(beta) and is_number(threshold)):
            raise RowError(f"softplus: beta and threshold must be numbers, got {beta!r}, {threshold!r}")
        return nn.Softplus(beta=float(beta), threshold=float(threshold))

    if name == "leaky_relu":
        if "negative_slope" in args:
            slope = args["negative_slope"]
            if not is_number(slope):
                raise RowError(f"negative_slope: expected a number, got {slope!r}")
            return nn.LeakyReLU(negative_slope=float(slope))
        return nn.LeakyReLU()

    if name == "softmax":
        rank = len(in_dims)
        axis = args.get("axis", rank - 1)
        if not is_int(axis) or not 0 <= axis < rank:
            raise RowError(f"softmax: axis must be an integer in [0, {rank}), got {axis!r}")
        return nn.Softmax(dim=axis + 1)  # +1 skips the batch dimension

    if name == "dropout":
        p = args["p"]
        if not is_number(p) or not 0 <= p <= 1:
            raise RowError(f"dropout: expected a probability in [0, 1], got {p!r}")
        return nn.Dropout(float(p))

    if name == "global_avgpool2d":
        require_rank(in_dims, (3,), name)
        return nn.AdaptiveAvgPool2d(1)
    if name == "adaptive_avgpool2d":
        require_rank(in_dims, (3,), name)
        return nn.AdaptiveAvgPool2d(int_or_pair(args, "out", 1))

    if name == "batchnorm":
        require_rank(in_dims, (1, 3), name)
        return nn.BatchNorm1d(in_dims[0]) if len(in_dims) == 1 else nn.BatchNorm2d(in_dims[0])

    if name == "layernorm":
        eps = args.get("eps", 1e-5)
        if not is_number(eps):
            raise RowError(f"layernorm: eps must be a number, got {eps!r}")
        affine = bool_arg(args, "elementwise_affine", True)
        return nn.LayerNorm(in_dims[-1], eps=float(eps), elementwise_affine=affine)
    if name == "mean":
        axis = args.get("axis")
        if not is_int(axis):
            raise RowError(f"mean: axis must be an integer, got {axis!r}")
        require_rank(in_dims, range(2, 8), name)
        return Mean(axis)
    if name == "attention":
        require_rank(in_dims, (2,), name)
        return SelfAttention(in_dims[0], in_dims[1], int_arg(args, "heads", 1), bool_arg(args, "causal", False))
    if name == "lstm":
        require_rank(in_dims, (2,), name)
        layers = int_arg(args, "layers", 1) if "layers" in args else 1
        return LstmSequence(in_dims[1], int_arg(args, "hidden", 1), layers)
    if name == "last":
        require_rank(in_dims, (2,), name)
        return Last()
    if name == "embedding":
        return nn.Embedding(int_arg(args, "num", 1), int_arg(args, "dim", 1))

    raise AssertionError(name)


class SelfAttention(nn.Module):
    """nnspec's `attention`: self-attention, the causal mask as an
    upper-triangular -inf `attn_mask`."""

    def __init__(self, length, features, heads, causal):
        super().__init__()
        self.attn = nn.MultiheadAttention(features, heads, batch_first=True)
        self.mask = nn.Transformer.generate_square_subsequent_mask(length) if causal else None

    def forward(self, x):
        return self.attn(x, x, x, need_weights=False, attn_mask=self.mask, is_causal=self.mask is not None)[0]


def run_joining(in_dims, layer):
    """add and concat: torch.add and torch.cat on per-sample tensors."""
    name, _, named = layer
    xs = [torch.randn(BATCH, *dims) for dims in in_dims]
    if name == "add":
        if len(xs) != 2:
            raise RowError("add takes two inputs")
        return torch.add(xs[0], xs[1])
    if name == "mul":
        if len(xs) != 2:
            raise RowError("mul takes two inputs")
        return torch.mul(xs[0], xs[1])
    if name == "concat":
        axis = named.get("axis", 0)
        if not is_int(axis):
            raise RowError("concat axis must be an integer")
        # Per-sample axis to tensor dim: non-negative ones skip the batch.
        return torch.cat(xs, dim=axis + 1 if axis >= 0 else axis)
    raise RowError(f"{name} takes one input, the row gives {len(xs)}")


def run_pytorch(in_dims, layer):
    """Return (per-sample output dims, trainable parameter count) according to PyTorch."""
    module = None
    try:
        if len(in_dims) > 1 or layer[0] in ("add", "mul", "concat"):
            with torch.no_grad():
                y = run_joining(in_dims, layer)
            x = y
        else:
            module = build(in_dims[0], layer)
            module.train()
            if isinstance(module, nn.Embedding):
                # Token ids: int64, in the table's range.
                x = torch.randint(0, module.num_embeddings, (BATCH, *in_dims[0]))
            else:
                x = torch.randn(BATCH, *in_dims[0])
            with torch.no_grad():
                y = module(x)
    except RowError:
        raise
    except (RuntimeError, ValueError, TypeError) as e:
        raise RowError(f"PyTorch rejected the layer: {str(e).splitlines()[0]}") from None
    if y.shape[0] != BATCH:
        raise RowError(f"batch dimension changed: {tuple(x.shape)} -> {tuple(y.shape)}")
    if layer[0] == "softmax":
        # also check that the softmax runs over the intended axis
        sums = y.sum(dim=module.dim)
        if not torch.allclose(sums, torch.ones_like(sums), atol=1e-5):
            raise RowError("softmax output does not sum to 1 over the chosen axis")
    if module is None:
        return list(y.shape[1:]), 0
    params = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return list(y.shape[1:]), params


# ---------------------------------------------------------------------------


def fmt_dims(dims):
    return "[" + ", ".join(str(d) for d in dims) + "]"


def main(argv):
    fill = False
    paths = []
    for a in argv:
        if a == "--fill":
            fill = True
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            paths.append(a)
    if len(paths) > 1:
        print("usage: pytorch_shapes.py [--fill] [TABLE]", file=sys.stderr)
        return 2
    path = paths[0] if paths else DEFAULT_TABLE

    torch.manual_seed(0)
    torch.set_num_threads(1)

    with open(path) as f:
        lines = f.read().splitlines()

    n_rows = n_ok = n_mismatch = n_error = 0
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            if fill:
                print(raw)
            continue
        n_rows += 1
        try:
            in_dims, layer_text, layer, want_out, want_params = parse_row(line)
            got_out, got_params = run_pytorch(in_dims, layer)
        except RowError as e:
            n_error += 1
            if fill:
                print(raw)
                print(f"line {lineno}: ERROR {e}", file=sys.stderr)
            else:
                print(f"ERROR     {line}\n          line {lineno}: {e}")
            continue
        if fill:
            inputs = " + ".join(fmt_dims(d) for d in in_dims)
            print(f"{inputs} | {layer_text} | {fmt_dims(got_out)} | {got_params}")
            continue
        if got_out == want_out and got_params == want_params:
            n_ok += 1
            print(f"OK        {line}")
        else:
            n_mismatch += 1
            print(f"MISMATCH  {line}\n          line {lineno}: PyTorch gives {fmt_dims(got_out)} | {got_params}")

    if fill:
        return 1 if n_error else 0
    print(f"\n{n_rows} rows: {n_ok} OK, {n_mismatch} MISMATCH, {n_error} ERROR  ({path}, torch {torch.__version__})")
    if n_rows == 0:
        print("no rows found", file=sys.stderr)
        return 1
    return 0 if n_ok == n_rows else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
