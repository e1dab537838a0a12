"""PyTorch building blocks: per-modality branches, the fusion layer and the heads."""

from __future__ import annotations

import torch
from torch import nn


def mlp(sizes: list[int], dropout: float) -> nn.Sequential:
    """Linear -> LayerNorm -> GELU -> Dropout for each consecutive pair of ``sizes``."""
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.LayerNorm(b), nn.GELU(), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


class TabularBranch(nn.Module):
    """Numbers plus one learned embedding per categorical column, then an MLP to a token."""

    def __init__(self, n_numeric: int, cardinalities: list[int], d_token: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(nn.Embedding(c, min(8, (c + 1) // 2 + 1)) for c in cardinalities)
        width = n_numeric + sum(e.embedding_dim for e in self.embeddings)
        self.body = mlp([max(width, 1), hidden, d_token], dropout)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor, signal=None) -> torch.Tensor:
        parts = [numeric] + [emb(categorical[:, j]) for j, emb in enumerate(self.embeddings)]
        x = torch.cat(parts, dim=1)
        if x.shape[1] == 0:
            x = torch.zeros(len(numeric), 1, device=numeric.device)
        return self.body(x)


class VariantTransformerBranch(nn.Module):
    """Each dosage column is a token (learned variant embedding scaled by its standardised
    dosage); one transformer layer and mean pooling; categorical phenotypes are added as
    tokens of their own."""

    def __init__(self, n_numeric: int, cardinalities: list[int], d_token: int, hidden: int, dropout: float, heads: int = 4) -> None:
        super().__init__()
        self.variant = nn.Parameter(torch.randn(n_numeric, d_token) * 0.1)
        self.bias = nn.Parameter(torch.zeros(n_numeric, d_token))
        self.embeddings = nn.ModuleList(nn.Embedding(c, d_token) for c in cardinalities)
        layer = nn.TransformerEncoderLayer(d_token, heads, hidden, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.out = nn.LayerNorm(d_token)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor, signal=None) -> torch.Tensor:
        tokens = numeric[:, :, None] * self.variant[None] + self.bias[None]
        cats = [emb(categorical[:, j])[:, None, :] for j, emb in enumerate(self.embeddings)]
        x = torch.cat([tokens, *cats], dim=1)
        return self.out(self.encoder(x).mean(dim=1))


class ResidualBlock1d(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(c_in, c_out, 7, stride=stride, padding=3, bias=False)
        self.bn1 = nn.BatchNorm1d(c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, 7, padding=3, bias=False)
        self.bn2 = nn.BatchNorm1d(c_out)
        self.drop = nn.Dropout(dropout)
        self.skip = (
            nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(nn.Conv1d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm1d(c_out))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(self.drop(h)))
        return torch.relu(h + self.skip(x))


class ConvBranch(nn.Module):
    """1D ResNet over a multichannel sequence (ECG leads; or proteins as a 2-channel
    value/missing sequence), global average and max pooling, then a linear map to a token."""

    def __init__(self, in_channels: int, d_token: int, width: int, n_blocks: int, dropout: float, extra_numeric: int = 0) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv1d(in_channels, width, 11, stride=2, padding=5, bias=False), nn.BatchNorm1d(width), nn.ReLU())
        blocks, c = [], width
        for i in range(n_blocks):
            c_out = min(width * 2 ** ((i + 1) // 2), 8 * width)
            blocks.append(ResidualBlock1d(c, c_out, stride=2, dropout=dropout))
            c = c_out
        self.blocks = nn.Sequential(*blocks)
        self.head = mlp([2 * c + extra_numeric, d_token], dropout)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor, signal: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.stem(signal))
        pooled = torch.cat([h.mean(dim=2), h.amax(dim=2), numeric], dim=1)
        return self.head(pooled)


class ProteinConvBranch(nn.Module):
    """Proteins as a sequence of (standardised value, missing) pairs in panel order: a small
    1D ResNet whose feature map is flattened (not pooled), so each protein keeps its place."""

    def __init__(self, n_proteins: int, indicator_index, d_token: int, width: int, dropout: float) -> None:
        super().__init__()
        self.n_proteins = n_proteins
        self.register_buffer("indicator_index", torch.as_tensor(indicator_index, dtype=torch.long))
        self.stem = nn.Sequential(nn.Conv1d(2, width, 3, padding=1, bias=False), nn.BatchNorm1d(width), nn.ReLU())
        self.block = ResidualBlock1d(width, width, stride=2, dropout=dropout)
        with torch.no_grad():
            flat = self.block(self.stem(torch.zeros(2, 2, n_proteins))).flatten(1).shape[1]
        self.head = mlp([flat, d_token], dropout)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor, signal=None) -> torch.Tensor:
        values = numeric[:, : self.n_proteins]
        missing = torch.zeros_like(values)
        if len(self.indicator_index):
            missing[:, self.indicator_index] = numeric[:, self.n_proteins :]
        h = self.block(self.stem(torch.stack([values, missing], dim=1)))
        return self.head(h.flatten(1))


class FusionNet(nn.Module):
    """Modality tokens -> fused embedding -> risk head (+ auxiliary heads).

    ``fusion="concat"``: tokens of absent modalities are zeroed, the presence flags are
    appended, and an MLP maps the concatenation to the embedding. ``fusion="attention"``:
    a learned summary token and one token per modality (plus a learned modality-type
    embedding) pass through a transformer layer whose attention ignores absent
    modalities (key padding mask); the summary token's output is the embedding.
    """

    def __init__(self, branches: dict[str, nn.Module], d_token: int, embed_dim: int, n_aux: int, fusion: str, dropout: float, heads: int = 4) -> None:
        super().__init__()
        self.names = list(branches)
        self.branches = nn.ModuleDict(branches)
        self.fusion = fusion
        m = len(branches)
        if fusion == "concat":
            self.fuse = mlp([m * d_token + m, embed_dim], dropout)
        else:
            self.type_embedding = nn.Parameter(torch.randn(m + 1, d_token) * 0.02)
            layer = nn.TransformerEncoderLayer(d_token, heads, 2 * d_token, dropout, batch_first=True, norm_first=True)
            self.attend = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
            self.fuse = mlp([d_token, embed_dim], dropout)
        self.risk_head = nn.Linear(embed_dim, 1)
        self.aux_head = nn.Linear(embed_dim, n_aux) if n_aux else None

    def embed(self, batch: dict[str, dict[str, torch.Tensor]]) -> torch.Tensor:
        tokens, flags = [], []
        for name in self.names:
            b = batch[name]
            tokens.append(self.branches[name](b["numeric"], b["categorical"], b.get("signal")))
            flags.append(b["present"])
        present = torch.stack(flags, dim=1)  # (n, m) float
        if self.fusion == "concat":
            t = torch.stack(tokens, dim=1) * present[:, :, None]
            return self.fuse(torch.cat([t.flatten(1), present], dim=1))
        t = torch.stack(tokens, dim=1)
        summary = torch.zeros(len(t), 1, t.shape[2], device=t.device, dtype=t.dtype)
        x = torch.cat([summary, t], dim=1) + self.type_embedding[None].to(t.dtype)
        pad = torch.cat([torch.zeros(len(t), 1, dtype=torch.bool, device=t.device), present < 0.5], dim=1)
        return self.fuse(self.attend(x, src_key_padding_mask=pad)[:, 0])

    def forward(self, batch):
        z = self.embed(batch)
        aux = self.aux_head(z) if self.aux_head is not None else None
        return z, self.risk_head(z).squeeze(1), aux
