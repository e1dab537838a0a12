"""Pluggable encoders: pre-treatment modalities -> embeddings that every estimator consumes.

Built-in names (see :func:`get_encoder`): ``tabular`` (clinical), ``genomics``,
``proteomics``, ``ecg``, ``fusion`` (every modality, concatenation), ``fusion_attention``
(every modality, cross-attention over modality tokens), ``passthrough`` (standardised
raw features) and ``stack`` (one registered encoder per modality, concatenated).
"""

from functools import partial

from causalrx.encoders.base import (
    Encoder,
    Split,
    available_encoders,
    get_encoder,
    register_encoder,
    resolve_split,
    train_test_ids,
)
from causalrx.encoders.neural import NeuralEncoder
from causalrx.encoders.oof import OutOfFoldEmbeddings, out_of_fold_embeddings
from causalrx.encoders.simple import ModalityStack, PassthroughEncoder
from causalrx.encoders.training import TrainConfig, cox_partial_nll

for _name, _modality in (("tabular", "clinical"), ("genomics", "genomics"), ("proteomics", "proteomics"), ("ecg", "ecg")):
    register_encoder(_name, partial(NeuralEncoder, modalities=(_modality,)))
register_encoder("fusion", partial(NeuralEncoder, fusion="concat"))
register_encoder("fusion_attention", partial(NeuralEncoder, fusion="attention"))
register_encoder("passthrough", PassthroughEncoder)
register_encoder("stack", ModalityStack)

__all__ = [
    "Encoder",
    "ModalityStack",
    "NeuralEncoder",
    "OutOfFoldEmbeddings",
    "PassthroughEncoder",
    "Split",
    "TrainConfig",
    "available_encoders",
    "cox_partial_nll",
    "get_encoder",
    "out_of_fold_embeddings",
    "register_encoder",
    "resolve_split",
    "train_test_ids",
]
