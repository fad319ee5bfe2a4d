"""eir_model.py: PyTorch twin of EIR's MetaModel for raw-bytes inputs + one tabular output.

A slow, obviously-correct reference for eir-dist's C model (spec §3, §4). It re-creates EIR
0.23.0 (commit 668d2b7b) module by module, with the same attribute names, so that
`model.state_dict()` has exactly EIR's keys (spec §3.5) and a checkpoint of either loads into
the other. Works on torch 1.13 (no nn.RMSNorm, no scaled_dot_product_attention there: both are
written out here with torch 2.x semantics).

Pieces and the EIR source they mirror:
  RMSNorm           torch.nn.RMSNorm (eps=None -> torch.finfo(dtype).eps)
  LayerScale        eir/models/layers/norm_layers.py
  SwiGLU, TransformerBlock, Transformer   eir/models/layers/attention_layers.py
  PositionalEmbedding / PositionalEncoding, TransformerFeatureExtractor,
  TransformerWrapperModel (windowing + pooling)   eir/models/input/sequence/transformer_models.py
  MLPResidualBlock  eir/models/layers/mlp_layers.py (StochasticDepth = torchvision, mode "batch")
  MLPResidualFusionModule   eir/models/fusion/fusion_default.py
  ResidualMLPOutputModule   eir/models/output/tabular/mlp_residual.py + models_utils.py
  MetaModel + scaled residual init   eir/models/meta/meta.py
  loss / mixup / AdamW groups / clipping / warmup   eir/train_utils/*, spec §4

Usage: cfg = tutorial_config(); model = build_model(cfg, seed=0);
       emb = model.embed(tokens); out = model(emb) -> {output_name: {column: logits}}.
"""
import copy
import json
import math
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# EIR on torch 2.x runs torch.nn.RMSNorm and F.scaled_dot_product_attention; this twin spells both
# out (same results, slower) so that it runs on torch 1.13 too. use_native_ops(True) switches to
# torch's own where they exist: what EIR actually runs, hence the honest speed baseline
# (tools/reference/bench_torch.py --ops native). The golden fixtures use the spelled-out forms.
NATIVE_OPS = False


def native_ops_available() -> bool:
    return hasattr(F, "scaled_dot_product_attention") and hasattr(F, "rms_norm")


def use_native_ops(on: bool) -> None:
    global NATIVE_OPS
    if on and not native_ops_available():
        raise RuntimeError(f"torch {torch.__version__} lacks F.scaled_dot_product_attention / F.rms_norm (torch >= 2.4)")
    NATIVE_OPS = on


VOCAB_SIZE = 261  # 256 byte values + <bos> <unk> <mask> <pad> <eos> (spec §2.2)
PAD_TOKEN = 259
ROPE_THETA = 10000


# --------------------------------------------------------------------------------------------
# Configuration (field names follow EIR's YAML keys / eir-dist's src/config/config.h)
# --------------------------------------------------------------------------------------------
@dataclass
class InputSpec:
    input_name: str
    max_length: int = 256
    embedding_dim: int = 64
    position: str = "encode"  # "encode" | "embed"
    position_dropout: float = 0.10
    window_size: int = 0
    pool: Optional[str] = None  # None | "avg" | "max"
    num_heads: int = 8
    num_layers: int = 2
    dim_feedforward: int = 0  # 0 -> "auto" = 4 * embedding_dim
    dropout: float = 0.10
    vocab_size: int = VOCAB_SIZE

    def ffn_dim(self) -> int:
        return self.dim_feedforward if self.dim_feedforward else 4 * self.embedding_dim

    def num_chunks(self) -> int:
        return int(math.ceil(self.max_length / self.window_size)) if self.window_size else 1

    def front_padding(self) -> int:
        return self.num_chunks() * self.window_size - self.max_length if self.window_size else 0

    def num_out_features(self) -> int:
        padded = self.max_length + self.front_padding()
        if self.pool in ("avg", "max"):
            return self.embedding_dim * self.num_chunks()
        return padded * self.embedding_dim


@dataclass
class FusionSpec:
    model_type: str = "mlp-residual"
    layers: int = 2  # EIR's layers[0]
    fc_task_dim: int = 256
    rb_do: float = 0.10
    fc_do: float = 0.10  # unused by the fusion module (as in EIR)
    stochastic_depth_p: float = 0.10


@dataclass
class OutputSpec:
    output_name: str
    target_cat_columns: List[str]
    num_classes: List[int]  # one per column, same order
    model_type: str = "mlp_residual"
    layers: int = 2
    fc_task_dim: int = 256
    rb_do: float = 0.10
    fc_do: float = 0.10
    stochastic_depth_p: float = 0.10
    final_layer_type: str = "linear"


@dataclass
class ModelConfig:
    inputs: List[InputSpec]
    outputs: List[OutputSpec]
    fusion: FusionSpec = field(default_factory=FusionSpec)

    def to_json_dict(self) -> dict:
        return {
            "inputs": [asdict(i) for i in self.inputs],
            "fusion": asdict(self.fusion),
            "outputs": [asdict(o) for o in self.outputs],
        }

    @staticmethod
    def from_json_dict(d: dict) -> "ModelConfig":
        return ModelConfig(
            inputs=[InputSpec(**i) for i in d["inputs"]],
            fusion=FusionSpec(**d["fusion"]),
            outputs=[OutputSpec(**o) for o in d["outputs"]],
        )


def tutorial_config() -> ModelConfig:
    """The 06_raw_bytes tutorial (spec §1, tutorial yaml) with EIR's defaults filled in."""
    return ModelConfig(
        inputs=[InputSpec(input_name="imdb_reviews_bytes_base_transformer", max_length=1024,
                          embedding_dim=64, position="embed", position_dropout=0.10,
                          window_size=128, pool="avg", num_heads=8, num_layers=4,
                          dim_feedforward=0, dropout=0.10)],
        fusion=FusionSpec(),
        outputs=[OutputSpec(output_name="imdb_output", target_cat_columns=["Sentiment"],
                            num_classes=[2])],
    )


# --------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------
class RMSNorm(nn.Module):
    """torch.nn.RMSNorm(normalized_shape) as in torch 2.4+: x * rsqrt(mean(x^2) + eps) * weight,
    eps = torch.finfo(x.dtype).eps (1.1920929e-07 for float32)."""

    def __init__(self, normalized_shape: int, eps: Optional[float] = None):
        super().__init__()
        self.normalized_shape = (normalized_shape,)
        self.eps = eps  # None -> finfo(dtype).eps, as torch; a float64 twin must pin float32's
        self.weight = nn.Parameter(torch.ones(normalized_shape))

    def forward(self, x: Tensor) -> Tensor:
        if NATIVE_OPS:
            return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)
        eps = torch.finfo(x.dtype).eps if self.eps is None else self.eps
        r = torch.rsqrt(torch.pow(x, 2).mean(-1, keepdim=True).add_(eps))
        return x.mul(r).mul(self.weight)


class LayerScale(nn.Module):
    def __init__(self, dim: int, init_values: float = 1.0):
        super().__init__()
        self.gamma = nn.Parameter(init_values * torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth(p, mode="batch"): one Bernoulli(1-p) draw per batch."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        noise = torch.empty([1] * x.ndim, dtype=x.dtype, device=x.device).bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise


class SwiGLU(nn.Module):
    def __init__(self, in_features: int, hidden_features: int, out_features: int):
        super().__init__()
        self.w1 = nn.Linear(in_features, hidden_features, bias=False)
        self.w2 = nn.Linear(in_features, hidden_features, bias=False)
        self.w3 = nn.Linear(hidden_features, out_features, bias=False)
        nn.init.normal_(self.w1.weight, mean=0.0, std=0.02)
        nn.init.normal_(self.w2.weight, mean=0.0, std=0.02)
        nn.init.normal_(self.w3.weight, mean=0.0, std=0.02)  # re-drawn by MetaModel

    def forward(self, x: Tensor) -> Tensor:
        return self.w3(F.silu(self.w1(x)) * self.w2(x))


class TransformerBlock(nn.Module):
    """Pre-norm block: x += ls1(attn(norm1(x))); x += ls2(ffn(norm2(x))) (spec §3.1 step 5)."""

    def __init__(self, d_model: int, n_head: int, dim_feedforward: int, dropout: float):
        super().__init__()
        assert d_model % n_head == 0, f"d_model ({d_model}) must be divisible by n_head ({n_head})"
        self.d_model = d_model
        self.n_head = n_head
        self.head_dim = d_model // n_head
        self.q_proj = nn.Linear(d_model, d_model, bias=False)
        self.k_proj = nn.Linear(d_model, d_model, bias=False)
        self.v_proj = nn.Linear(d_model, d_model, bias=False)
        self.out_proj = nn.Linear(d_model, d_model, bias=False)
        self.norm1 = RMSNorm(d_model)
        self.norm2 = RMSNorm(d_model)
        self.ffn = SwiGLU(d_model, dim_feedforward, d_model)
        self.dropout = nn.Dropout(dropout)
        self.ls1 = LayerScale(d_model, init_values=1e-05)
        self.ls2 = LayerScale(d_model, init_values=1e-05)
        dim = self.head_dim
        freqs = 1.0 / (ROPE_THETA ** (torch.arange(0, dim, 2).float() / dim))
        self.register_buffer("rope_freqs", freqs)

    def _apply_rope(self, x: Tensor, seq_len: int) -> Tensor:
        # x: (B, S, H, dh); interleaved pairs (2i, 2i+1); positions restart at 0 per window
        position = torch.arange(seq_len, device=x.device)
        freqs = torch.outer(position, self.rope_freqs).to(x.dtype)
        cos = torch.cos(freqs).view(seq_len, 1, -1)
        sin = torch.sin(freqs).view(seq_len, 1, -1)
        x_even = x[..., ::2]
        x_odd = x[..., 1::2]
        return torch.stack([x_even * cos - x_odd * sin, x_odd * cos + x_even * sin],
                           dim=-1).flatten(-2)

    def _attention(self, x: Tensor) -> Tensor:
        b, s, _ = x.shape
        q = self.q_proj(x).view(b, s, self.n_head, self.head_dim)
        k = self.k_proj(x).view(b, s, self.n_head, self.head_dim)
        v = self.v_proj(x).view(b, s, self.n_head, self.head_dim)
        q = self._apply_rope(q, s)
        k = self._apply_rope(k, s)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        if NATIVE_OPS:
            a = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout.p if self.training else 0.0)
            return self.dropout(self.out_proj(a.transpose(1, 2).contiguous().view(b, s, self.d_model)))
        # F.scaled_dot_product_attention (math path): softmax(q k^T / sqrt(dh)), dropout, @ v
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
        attn = torch.softmax(scores, dim=-1)
        if self.training and self.dropout.p > 0.0:
            attn = F.dropout(attn, p=self.dropout.p, training=True)
        o = (attn @ v).transpose(1, 2).contiguous().view(b, s, self.d_model)
        return self.dropout(self.out_proj(o))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.ls1(self._attention(self.norm1(x)))
        x = x + self.ls2(self.ffn(self.norm2(x)))
        return x


class Transformer(nn.Module):
    def __init__(self, d_model, nhead, num_layers, dim_feedforward, dropout):
        super().__init__()
        self.layers = nn.ModuleList([TransformerBlock(d_model, nhead, dim_feedforward, dropout)
                                     for _ in range(num_layers)])

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class TransformerFeatureExtractor(nn.Module):
    def __init__(self, spec: InputSpec):
        super().__init__()
        self.transformer_encoder = Transformer(spec.embedding_dim, spec.num_heads,
                                               spec.num_layers, spec.ffn_dim(), spec.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.transformer_encoder(x)


class PositionalEncoding(nn.Module):
    def __init__(self, embedding_dim: int, max_length: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        self.max_length = max_length
        position = torch.arange(max_length).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, embedding_dim, 2) * (-math.log(10000.0) / embedding_dim))
        pe = torch.zeros(1, max_length, embedding_dim)
        pe[0, :, 0::2] = torch.sin(position * div_term)
        pe[0, :, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(x + self.pe[:, : self.max_length, :].to(x.dtype))


class PositionalEmbedding(nn.Module):
    def __init__(self, embedding_dim: int, max_length: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        self.max_length = max_length
        self.embedding = nn.Parameter(torch.randn(1, max_length, embedding_dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(x + self.embedding[:, : self.max_length, :])


def _pool(x: Tensor, pool: Optional[str]) -> Tensor:
    if pool is None:
        return x
    if pool == "max":
        return x.max(dim=1)[0]
    if pool == "avg":
        return x.mean(dim=1)
    raise ValueError(pool)


class TransformerWrapperModel(nn.Module):
    """Input module. forward() takes token *embeddings* (B, L, d): the lookup happens in EIR's
    batch preparation, before mixup (spec §3.1 step 1, §4.2) -- see MetaModel.embed()."""

    def __init__(self, spec: InputSpec, feature_extractor: TransformerFeatureExtractor):
        super().__init__()
        self.spec = spec
        pos_cls = {"encode": PositionalEncoding, "embed": PositionalEmbedding}[spec.position]
        self.pos_representation = pos_cls(spec.embedding_dim, spec.max_length, spec.position_dropout)
        self.embedding = nn.Embedding(spec.vocab_size, spec.embedding_dim)
        self.feature_extractor = feature_extractor
        self.embedding.weight.data.uniform_(-0.1, 0.1)

    def forward(self, x: Tensor) -> Tensor:
        s = self.spec
        out = x * math.sqrt(s.embedding_dim)
        out = self.pos_representation(out)
        if not s.window_size:
            return _pool(self.feature_extractor(out), s.pool)
        padding = s.front_padding()
        out = F.pad(out, [0, 0, padding, 0])  # zeros in front, in embedding space
        total = s.max_length + padding
        pieces = []
        for lower in range(0, total, s.window_size):
            cur = out[:, lower: lower + s.window_size, :]
            pieces.append(_pool(self.feature_extractor(cur), s.pool))
        return torch.cat(pieces, dim=1)


class MLPResidualBlock(nn.Module):
    def __init__(self, in_features: int, out_features: int, dropout_p: float,
                 stochastic_depth_p: float):
        super().__init__()
        self.norm_1 = RMSNorm(in_features)
        self.fc_1 = nn.Linear(in_features, out_features, bias=False)
        self.act_1 = nn.GELU()
        self.do = nn.Dropout(p=dropout_p)
        self.fc_2 = nn.Linear(out_features, out_features, bias=False)
        if in_features == out_features:
            self.downsample_identity = nn.Identity()
            ls_init = 1e-05
        else:
            self.downsample_identity = nn.Linear(in_features, out_features, bias=True)
            ls_init = 1.0
        self.ls = LayerScale(out_features, init_values=ls_init)
        self.stochastic_depth = StochasticDepth(p=stochastic_depth_p)

    def forward(self, x: Tensor) -> Tensor:
        out = self.norm_1(x)
        identity = self.downsample_identity(x)  # on the un-normalised input
        out = self.fc_2(self.do(self.act_1(self.fc_1(out))))
        out = self.stochastic_depth(self.ls(out))
        return out + identity


def _multi_task_blocks(num_blocks: int, branch_names, in_first: int, dim: int,
                       dropout_p: float, sd_p: float) -> nn.ModuleDict:
    """models_utils.create_multi_task_blocks_with_first_adaptor_block + merge_module_dicts:
    branch -> Sequential("0": Sequential(first block), "1": Sequential(other blocks))."""
    d = nn.ModuleDict()
    for name in branch_names:
        seq = nn.Sequential()
        seq.add_module("0", nn.Sequential(MLPResidualBlock(in_first, dim, dropout_p, sd_p)))
        if num_blocks > 1:
            seq.add_module("1", nn.Sequential(*[MLPResidualBlock(dim, dim, dropout_p, sd_p)
                                                for _ in range(num_blocks - 1)]))
        d[name] = seq
    return d


class MLPResidualFusionModule(nn.Module):
    def __init__(self, spec: FusionSpec, fusion_in_dim: int):
        super().__init__()
        self.fusion_modules = _multi_task_blocks(spec.layers, ("fusion",), fusion_in_dim,
                                                 spec.fc_task_dim, spec.rb_do,
                                                 spec.stochastic_depth_p)

    def forward(self, inputs: Dict[str, Tensor]) -> Tensor:
        fused = torch.cat([v.flatten(start_dim=1) for v in inputs.values()], dim=1)
        return self.fusion_modules["fusion"](fused)


class ResidualMLPOutputModule(nn.Module):
    def __init__(self, spec: OutputSpec, input_dimension: int):
        super().__init__()
        blocks = _multi_task_blocks(spec.layers, spec.target_cat_columns, input_dimension,
                                    spec.fc_task_dim, spec.rb_do, spec.stochastic_depth_p)
        self.multi_task_branches = nn.ModuleDict()
        for col, k in zip(spec.target_cat_columns, spec.num_classes):
            seq = nn.Sequential()
            seq.add_module("0", blocks[col])
            seq.add_module("1", nn.Sequential(OrderedDict(
                norm_final=RMSNorm(spec.fc_task_dim),
                act_final=nn.GELU(),
                do_final=nn.Dropout(p=spec.fc_do))))
            seq.add_module("2", nn.Sequential(OrderedDict(
                final=nn.Linear(spec.fc_task_dim, k, bias=True))))
            self.multi_task_branches[col] = seq

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        return OrderedDict((name, m(x)) for name, m in self.multi_task_branches.items())


class MetaModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.input_modules = nn.ModuleDict()
        for spec in cfg.inputs:
            fe = TransformerFeatureExtractor(spec)  # built before the wrapper, as in EIR
            self.input_modules[spec.input_name] = TransformerWrapperModel(spec, fe)
        fusion_in = sum(s.num_out_features() for s in cfg.inputs)
        self.fusion_modules = nn.ModuleDict()
        self.fusion_modules["computed"] = MLPResidualFusionModule(cfg.fusion, fusion_in)
        self.output_modules = nn.ModuleDict()
        for o in cfg.outputs:
            self.output_modules[o.output_name] = ResidualMLPOutputModule(o, cfg.fusion.fc_task_dim)
        self.tensor_broker = nn.ModuleDict()
        self._scaled_residual_init()

    def _scaled_residual_init(self, base_std: float = 0.02) -> None:
        n = sum(1 for m in self.modules() if isinstance(m, TransformerBlock))
        if n == 0:
            return
        std = base_std / math.sqrt(2 * n)
        for name, p in self.named_parameters():
            if name.endswith("out_proj.weight") or name.endswith("w3.weight"):
                nn.init.normal_(p, mean=0.0, std=std)

    def embed(self, tokens: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Token lookup (EIR step_logic._prepare_sequence_input_base)."""
        return OrderedDict((name, self.input_modules[name].embedding(tokens[name].long()))
                           for name in self.input_modules)

    def forward(self, inputs: Dict[str, Tensor], return_features: bool = False):
        feats = OrderedDict((name, m(inputs[name])) for name, m in self.input_modules.items())
        fused = self.fusion_modules["computed"](feats)
        outs = OrderedDict((name, m(fused)) for name, m in self.output_modules.items())
        if return_features:
            return outs, feats, fused
        return outs


def build_model(cfg: ModelConfig, seed: Optional[int] = 0) -> MetaModel:
    if seed is not None:
        torch.manual_seed(seed)
    return MetaModel(cfg)


def to_float64_same_function(model: nn.Module) -> nn.Module:
    """A float64 copy computing the same function: RMSNorm eps pinned to float32's eps
    (torch's eps=None would switch to float64's 2.2e-16, which changes the result wherever
    mean(x^2) is not >> 1e-7, e.g. at the zero front-padding positions)."""
    m = copy.deepcopy(model).double()
    for mod in m.modules():
        if isinstance(mod, RMSNorm) and mod.eps is None:
            mod.eps = float(torch.finfo(torch.float32).eps)
    return m


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def set_dropout_zero(model: nn.Module) -> None:
    """Dropout and stochastic depth off everywhere (for deterministic fixtures)."""
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
        if isinstance(m, StochasticDepth):
            m.p = 0.0
    for s in model.cfg.inputs:
        s.position_dropout = 0.0
        s.dropout = 0.0
    model.cfg.fusion.rb_do = model.cfg.fusion.fc_do = model.cfg.fusion.stochastic_depth_p = 0.0
    for o in model.cfg.outputs:
        o.rb_do = o.fc_do = o.stochastic_depth_p = 0.0


# --------------------------------------------------------------------------------------------
# Training pieces (spec §4)
# --------------------------------------------------------------------------------------------
def sample_mixup(alpha: float, batch_size: int):
    """EIR data_augmentation.get_mixing_info: lambda ~ Beta(a, a) (python float), randperm."""
    lam = torch.distributions.beta.Beta(alpha, alpha).sample().item() if alpha > 0 else 1.0
    perm = torch.randperm(batch_size).to(dtype=torch.long)
    return lam, perm


def mixup_embeddings(emb: Dict[str, Tensor], lam: float, perm: Tensor) -> Dict[str, Tensor]:
    """e <- lam * e + (1 - lam) * e[perm] on token embeddings (before x sqrt(d)) (spec §4.2)."""
    return OrderedDict((k, lam * v + (1.0 - lam) * v[perm, :]) for k, v in emb.items())


def ce_masked(logits: Tensor, labels: Tensor) -> Tensor:
    """criteria.loop_ce_loss: CE per sample, label -1 excluded, mean over the rest (0 if none)."""
    valid = labels != -1
    t = labels.clone().long()
    t[~valid] = -100
    losses = F.cross_entropy(logits, t, reduction="none")
    return losses[valid].mean() if valid.any() else losses.new_zeros(())


def compute_loss(outputs, labels, mix=None):
    """Returns (total, per_target OrderedDict[(output, column)] -> loss).
    labels: {output_name: {column: LongTensor (B,)}}; mix: None or (lam, perm).
    With mixup: lam * CE(y) + (1 - lam) * CE(y[perm]), each CE masking its own -1 labels.
    Total = nanmean over all targets of all outputs (metrics.aggregate_losses)."""
    per = OrderedDict()
    for oname, cols in outputs.items():
        names = list(cols.keys())
        base = torch.stack([ce_masked(cols[c], labels[oname][c]) for c in names])
        if mix is not None:
            lam, perm = mix
            permuted = torch.stack([ce_masked(cols[c], labels[oname][c][perm]) for c in names])
            base = lam * base + (1.0 - lam) * permuted
        for c, v in zip(names, base):
            per[(oname, c)] = v
    total = torch.nanmean(torch.stack(list(per.values())))
    return total, per


def make_optimizer(model: nn.Module, lr: float, wd: float, b1: float = 0.9, b2: float = 0.999,
                   eps: float = 1e-8) -> torch.optim.AdamW:
    """AdamW, decay only on >= 2-D params (model_training_utils.add_wd_to_model_params).
    foreach=False: the single-tensor path, whose arithmetic README.md spells out."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": wd},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=lr, betas=(b1, b2), eps=eps, amsgrad=False, foreach=False)


def auto_warmup_steps(b2: float) -> int:
    return round(2 / (1 - b2))


def warmup_lr_for_step(step: int, lr: float, lr_lb: float, warmup: int) -> float:
    """LR used by optimizer step `step` (1-based) under EIR's plateau+warmup handling (spec §4.4,
    lr_scheduling._step_reduce_on_plateau_scheduler): LR is lr_lb before iteration 1 and is set
    AFTER iteration i (i <= warmup) to lr_lb + ((lr - lr_lb) / warmup) * i, so step i runs with
    lr_lb + ((lr - lr_lb) / warmup) * (i - 1) while i <= warmup + 1, then lr (until a plateau
    reduction, which needs validation and is not modelled here)."""
    if warmup <= 0:
        return lr
    i = min(step - 1, warmup)
    if i == warmup:
        # EIR computes lr_lb + step_size * warmup, which may differ from lr in the last ulp
        return lr_lb + ((lr - lr_lb) / warmup) * warmup
    return lr_lb + ((lr - lr_lb) / warmup) * i


def train_step(model: MetaModel, opt, tokens, labels, lr: float, clip: float, mix=None):
    """One EIR training iteration (spec §4): train mode, zero grads, lookup, optional mixup,
    forward, loss, backward, clip_grad_norm_, AdamW step at `lr`.
    Returns (loss, pre-clip global grad norm, outputs)."""
    model.train()
    for g in opt.param_groups:
        g["lr"] = lr
    opt.zero_grad(set_to_none=False)
    emb = model.embed(tokens)
    if mix is not None:
        emb = mixup_embeddings(emb, mix[0], mix[1])
    outs = model(emb)
    loss, _ = compute_loss(outs, labels, mix)
    loss.backward()
    gn = torch.nn.utils.clip_grad_norm_(model.parameters(), clip) if clip else torch.tensor(0.0)
    opt.step()
    return loss.detach(), gn.detach(), outs


def state_dict_numpy(model: nn.Module) -> "OrderedDict":
    return OrderedDict((k, v.detach().cpu().numpy().copy()) for k, v in model.state_dict().items())


def load_config_json(s: str) -> ModelConfig:
    return ModelConfig.from_json_dict(json.loads(s))


if __name__ == "__main__":
    m = build_model(tutorial_config(), seed=0)
    n = count_parameters(m)
    print(f"tutorial config: {n:,} parameters (EIR logs 1,069,634)")
    assert n == 1_069_634, n
    for k, v in m.state_dict().items():
        print(f"{k:100s} {tuple(v.shape)}")
