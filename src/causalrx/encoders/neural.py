"""``NeuralEncoder``: per-modality branches, a fusion layer and risk/auxiliary heads (PyTorch)."""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import torch
from sklearn.base import BaseEstimator

from causalrx.data.schema import MODALITIES, Cohort
from causalrx.encoders.base import EncoderIO, resolve_split
from causalrx.encoders.inputs import ModalityInputs, row_positions
from causalrx.encoders.networks import ConvBranch, FusionNet, ProteinConvBranch, TabularBranch, VariantTransformerBranch
from causalrx.encoders.training import TrainConfig, resolve_device, train_network
from causalrx.exceptions import ValidationError


class NeuralEncoder(EncoderIO, BaseEstimator):
    """Learn an embedding of the pre-treatment modalities by predicting a risk label.

    One branch per modality (tabular MLP with categorical embeddings for ``clinical``; MLP
    or a transformer over variant tokens for ``genomics``; MLP or 1D-CNN for
    ``proteomics``, after log2 and ComBat fitted on the training patients; 1D ResNet over
    raw waveforms for ``ecg``) maps a patient to a token; the fusion layer (``"concat"``
    or ``"attention"``) combines the tokens with the modality-presence flags into the
    embedding; a risk head (binary or Cox) and optional auxiliary heads train it.

    The encoder reads baseline tables only (never treatments, never outcomes as inputs;
    outcomes are only its training labels), is fitted on the training patients given to
    :meth:`fit` (statistics, weights and early stopping alike), and its embeddings for
    effect estimation should be produced out of fold (:func:`out_of_fold_embeddings`).

    Parameters
    ----------
    modalities : tuple of str, optional
        Modalities to encode; default every modality the cohort has.
    target : str or (str, str)
        Outcome column of the binary risk label, or ``(time, event)`` columns for a Cox
        head (then ``train.risk_loss`` must be ``"cox"``).
    aux_targets : tuple of str
        Outcome columns predicted by the auxiliary head (0/1 columns by cross-entropy,
        others standardised by squared error).
    fusion : {"concat", "attention"}
    genomics_arch : {"mlp", "transformer"}
    proteomics_arch : {"mlp", "cnn"}
    ecg_width, ecg_blocks : int
        Channels of the first ECG convolution and number of residual blocks.
    d_token, embed_dim, hidden : int
        Size of each modality token, of the fused embedding, of the hidden MLP layers.
    dropout : float
    n_ensemble : int
        Members of a deep ensemble (different seeds); ``transform`` uses the first
        member, ``predict_risk`` averages all of them.
    train : TrainConfig or dict
    random_state : int
    """

    def __init__(self, modalities=None, target="disease", aux_targets=(), fusion: str = "concat", genomics_arch: str = "mlp",
                 proteomics_arch: str = "mlp", ecg_width: int = 16, ecg_blocks: int = 4, d_token: int = 32, embed_dim: int = 16,
                 hidden: int = 64, dropout: float = 0.1, n_ensemble: int = 1, train=None, random_state: int = 0) -> None:  # fmt: skip
        self.modalities = modalities
        self.target = target
        self.aux_targets = aux_targets
        self.fusion = fusion
        self.genomics_arch = genomics_arch
        self.proteomics_arch = proteomics_arch
        self.ecg_width = ecg_width
        self.ecg_blocks = ecg_blocks
        self.d_token = d_token
        self.embed_dim = embed_dim
        self.hidden = hidden
        self.dropout = dropout
        self.n_ensemble = n_ensemble
        self.train = train
        self.random_state = random_state

    # ------------------------------------------------------------ configuration
    def _config(self) -> TrainConfig:
        cfg = self.train if isinstance(self.train, TrainConfig) else TrainConfig(**(self.train or {}))
        survival = not isinstance(self.target, str)
        if survival and cfg.risk_loss != "cox":
            cfg = replace(cfg, risk_loss="cox")
        if not survival and cfg.risk_loss == "cox":
            raise ValidationError("target: a Cox head needs (time, event) columns, got a single column name")
        cfg.check()
        return cfg

    def _modalities(self, cohort: Cohort) -> tuple[str, ...]:
        available = tuple(m for m in MODALITIES if m == "clinical" or getattr(cohort, m) is not None)
        if self.modalities is None:
            return available
        chosen = (self.modalities,) if isinstance(self.modalities, str) else tuple(self.modalities)
        for m in chosen:
            if m not in MODALITIES:
                raise ValidationError(f"modalities: unknown modality {m!r}; expected some of {MODALITIES}")
            if m not in available:
                raise ValidationError(f"modalities: the cohort has no {m!r} data")
        return chosen

    def _check_params(self) -> None:
        checks = [("fusion", self.fusion, ("concat", "attention")), ("genomics_arch", self.genomics_arch, ("mlp", "transformer")),
                  ("proteomics_arch", self.proteomics_arch, ("mlp", "cnn"))]  # fmt: skip
        for name, value, allowed in checks:
            if value not in allowed:
                raise ValidationError(f"{name}: expected one of {allowed}, got {value!r}")
        if not isinstance(self.n_ensemble, (int, np.integer)) or self.n_ensemble < 1:
            raise ValidationError(f"n_ensemble: expected a positive integer, got {self.n_ensemble!r}")

    # ------------------------------------------------------------ data
    def _labels(self, cohort: Cohort, pos: np.ndarray) -> dict[str, torch.Tensor]:
        def column(name):
            values = cohort.outcome(name, 0)[pos]
            if np.isnan(values).any():
                raise ValidationError(f"{name}: {int(np.isnan(values).sum())} training patient(s) have no value at visit 0")
            return values

        if isinstance(self.target, str):
            y = column(self.target)
            if not np.isin(y, (0, 1)).all():
                raise ValidationError(f"target: column {self.target!r} must be 0/1 for a binary risk head")
            out = {"y": torch.as_tensor(y, dtype=torch.float32)}
        else:
            time_col, event_col = self.target
            out = {"time": torch.as_tensor(column(time_col), dtype=torch.float32), "event": torch.as_tensor(column(event_col), dtype=torch.float32)}
        if self.aux_targets:
            aux = np.column_stack([cohort.outcome(c, 0)[pos] for c in self.aux_targets])
            binary = np.array([np.isin(a[~np.isnan(a)], (0, 1)).all() for a in aux.T])
            self.aux_mean_ = np.where(binary, 0.0, np.nanmean(aux, axis=0))
            self.aux_scale_ = np.where(binary, 1.0, np.nanstd(aux, axis=0) + 1e-8)
            out["aux"] = torch.as_tensor((aux - self.aux_mean_) / self.aux_scale_, dtype=torch.float32)
            out["aux_binary"] = torch.as_tensor(binary)
        return out

    def _tensors(self, cohort: Cohort, patients) -> dict:
        batch = {}
        for m, prep in self.inputs_.items():
            arr = prep.transform(cohort, patients)
            item = {
                "numeric": torch.as_tensor(arr.numeric),
                "categorical": torch.as_tensor(arr.categorical),
                "present": torch.as_tensor(arr.present, dtype=torch.float32),
            }
            if arr.signal is not None:
                item["signal"] = torch.as_tensor(arr.signal)
            batch[m] = item
        return batch

    def _branch(self, m: str, prep: ModalityInputs):
        d, h, p = self.d_token, self.hidden, self.dropout
        if m == "ecg":
            return ConvBranch(len(prep.leads_), d, self.ecg_width, self.ecg_blocks, p)
        if m == "genomics" and self.genomics_arch == "transformer":
            return VariantTransformerBranch(prep.n_numeric, prep.cardinalities, d, h, p)
        if m == "proteomics" and self.proteomics_arch == "cnn":
            return ProteinConvBranch(len(prep.numeric_columns_), prep.indicator_columns_, d, self.ecg_width, p)
        return TabularBranch(prep.n_numeric, prep.cardinalities, d, h, p)

    def _network(self, seed: int) -> FusionNet:
        torch.manual_seed(seed)
        branches = {m: self._branch(m, prep) for m, prep in self.inputs_.items()}
        return FusionNet(branches, self.d_token, self.embed_dim, len(self.aux_targets), self.fusion, self.dropout)

    # ------------------------------------------------------------ API
    def fit(self, cohort: Cohort, split) -> NeuralEncoder:
        """Fit input statistics and the network(s) on the training patients of ``split``.

        ``split`` is a :class:`Split` or the training patient ids (then a validation
        part for early stopping is drawn from them with ``random_state``).
        """
        self._check_params()
        config = self._config()
        split = resolve_split(cohort, split, config.validation_fraction, self.random_state)
        train_ids = np.concatenate([split.train, split.validation])
        self.modalities_ = self._modalities(cohort)
        self.inputs_ = {m: ModalityInputs(m).fit(cohort, train_ids) for m in self.modalities_}
        inputs = self._tensors(cohort, train_ids)
        target = self._labels(cohort, row_positions(cohort, train_ids))
        n_train = len(split.train)
        rows_train, rows_val = np.arange(n_train), np.arange(n_train, len(train_ids))
        self.members_, self.history_ = [], []
        for k in range(self.n_ensemble):
            net = self._network(int(self.random_state) + 1000 * k)
            self.history_.append(train_network(net, inputs, target, rows_train, rows_val, config, int(self.random_state) + 1000 * k))
            self.members_.append(net.cpu())
        self.config_ = config
        self.n_features_out_ = self.embed_dim
        return self

    def _forward(self, cohort: Cohort, patients, fn, batch_size: int = 2048) -> np.ndarray:
        if not hasattr(self, "members_"):
            raise ValidationError(f"{type(self).__name__}: call fit before transform")
        device = resolve_device(self.config_.device)
        pos = row_positions(cohort, patients)
        out = []
        try:
            for i in range(0, len(pos), batch_size):
                ids = cohort.patient_ids[pos[i : i + batch_size]]
                batch = {m: {k: v.to(device) for k, v in d.items()} for m, d in self._tensors(cohort, ids).items()}
                with torch.no_grad():
                    out.append(fn(batch, device))
        finally:  # fitted members rest on the CPU, as after fit, whatever device computed
            for net in self.members_:
                net.cpu()
        return np.concatenate(out, axis=0)

    def transform(self, cohort: Cohort, patients=None) -> np.ndarray:
        """Embeddings ``(n, embed_dim)`` of ``patients`` (all, in clinical order, by default)."""
        net = self.members_[0]

        def embed(batch, device):
            net.to(device).eval()
            return net.embed(batch).float().cpu().numpy()

        return self._forward(cohort, patients, embed)

    def predict_risk(self, cohort: Cohort, patients=None, *, mc_samples: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Risk of each patient and its uncertainty: ``(mean, sd)``.

        Binary heads give probabilities, Cox heads log hazards. The spread is over the
        ensemble members and, with ``mc_samples > 0``, over that many forward passes with
        dropout active (MC dropout; batch-norm statistics stay frozen).
        """
        passes = max(int(mc_samples), 1)
        cox = self.config_.risk_loss == "cox"

        def draws(batch, device):
            out = []
            for net in self.members_:
                net.to(device).eval()
                if mc_samples:
                    for mod in net.modules():
                        if isinstance(mod, torch.nn.Dropout):
                            mod.train()
                for _ in range(passes):
                    logit = net(batch)[1].float()
                    out.append((logit if cox else torch.sigmoid(logit)).cpu().numpy())
                net.eval()
            return np.stack(out, axis=0).T  # (batch, draws)

        torch.manual_seed(int(self.random_state))
        samples = self._forward(cohort, patients, draws)
        return samples.mean(axis=1), samples.std(axis=1)

    def get_feature_names_out(self) -> list[str]:
        return [f"z{j}" for j in range(self.embed_dim)]

    @property
    def samples_per_second(self) -> float:
        return float(np.mean([h["samples_per_second"] for h in self.history_]))

    def summary(self) -> dict:
        return {"modalities": list(self.modalities_), "fusion": self.fusion, "members": len(self.members_),
                "best_epoch": [h["best_epoch"] for h in self.history_], "train": asdict(self.config_)}  # fmt: skip
