import numpy as np
import pytest
import torch

from causalrx.data.simulate import simulate_cohort
from causalrx.encoders import NeuralEncoder, Split, cox_partial_nll, train_test_ids
from causalrx.encoders.inputs import row_positions
from causalrx.encoders.training import precise_batchnorm
from causalrx.exceptions import ValidationError
from causalrx.risk import auroc, auroc_delong_interval, concordance_index, delong_test


FAST = {"epochs": 25, "patience": 4}


def _split_eval(cohort, encoder, label, seed=0, test_fraction=0.3):
    train, test = train_test_ids(cohort, test_fraction, seed)
    encoder.fit(cohort, train)
    p, _ = encoder.predict_risk(cohort, test)
    return cohort.outcome(label)[row_positions(cohort, test)], p


@pytest.mark.parametrize(
    "modality, arch",
    [("clinical", {}), ("genomics", {}), ("proteomics", {}), ("proteomics", {"proteomics_arch": "cnn"})],
)
def test_each_tabular_encoder_learns_its_own_modality_signal(small_cohort, modality, arch):
    enc = NeuralEncoder(modalities=(modality,), target=f"{modality}_label", train=FAST, random_state=0, **arch)
    y, p = _split_eval(small_cohort, enc, f"{modality}_label")
    auc, lower, _ = auroc_delong_interval(y, p)
    assert lower > 0.5 and auc > 0.7, (modality, auc)


def test_genomics_variant_transformer_trains(small_cohort):
    enc = NeuralEncoder(modalities=("genomics",), genomics_arch="transformer", target="genomics_label", d_token=8, hidden=16,
                        train={"epochs": 1, "batch_size": 128}, random_state=0)  # fmt: skip
    y, p = _split_eval(small_cohort, enc, "genomics_label")
    assert np.isfinite(p).all() and enc.transform(small_cohort).shape == (small_cohort.n_patients, 16)


def test_ecg_encoder_detects_long_qt_from_raw_waveforms(labelled):
    sim = simulate_cohort(n=3000, n_drugs=3, random_state=2)
    cohort = labelled(sim)
    with_ecg = np.isin(cohort.patient_ids, cohort.ecg.patient_id)
    ids = cohort.patient_ids[with_ecg]
    rng = np.random.default_rng(0)
    test = rng.choice(ids, size=len(ids) // 3, replace=False)
    train = np.setdiff1d(ids, test)
    enc = NeuralEncoder(modalities=("ecg",), target="long_qt", train={"class_weight": "balanced", "patience": 5}, random_state=0)
    enc.fit(cohort, train)
    p, _ = enc.predict_risk(cohort, test)
    y = cohort.outcome("long_qt")[row_positions(cohort, test)]
    assert auroc(y, p) > 0.9


def test_fused_embedding_beats_every_single_modality():
    sim = simulate_cohort(n=4000, n_drugs=3, random_state=1)
    cohort = sim.cohort
    aucs = {}
    for mods in [("clinical",), ("genomics",), ("proteomics",), ("ecg",), None]:
        y, p = _split_eval(cohort, NeuralEncoder(modalities=mods, random_state=0), "disease", test_fraction=0.4)
        aucs[mods] = p
    fused = aucs.pop(None)
    best_single = max(aucs, key=lambda m: auroc(y, aucs[m]))
    assert auroc(y, fused) > auroc(y, aucs[best_single]) + 0.02
    assert delong_test(y, fused, aucs[best_single]).p_value < 0.05


def test_attention_fusion_handles_absent_modalities(small_cohort):
    enc = NeuralEncoder(fusion="attention", train=FAST, random_state=0)
    y, p = _split_eval(small_cohort, enc, "disease")
    assert auroc(y, p) > 0.6
    z = enc.transform(small_cohort)
    absent = ~small_cohort.modality_presence()["proteomics"].to_numpy()
    assert absent.any() and np.isfinite(z).all()
    # an absent modality is masked out of attention: its (zeroed) inputs cannot move the embedding
    net = enc.members_[0]
    batch = enc._tensors(small_cohort, small_cohort.patient_ids[absent][:20])
    base = net.embed(batch).detach()
    batch["proteomics"]["numeric"] = batch["proteomics"]["numeric"] + 5.0
    np.testing.assert_allclose(net.embed(batch).detach().numpy(), base.numpy(), atol=1e-5)


def test_cox_head_and_partial_likelihood_by_hand(small_cohort):
    lh = torch.tensor([0.5, -0.2, 1.0, 0.0])
    time = torch.tensor([2.0, 5.0, 1.0, 3.0])
    event = torch.tensor([1.0, 0.0, 1.0, 1.0])
    # risk sets: t=1 -> all; t=2 -> {0, 1, 3}; t=3 -> {1, 3}
    e = np.exp([0.5, -0.2, 1.0, 0.0])
    by_hand = -((1.0 - np.log(e.sum())) + (0.5 - np.log(e[[0, 1, 3]].sum())) + (0.0 - np.log(e[[1, 3]].sum()))) / 3
    assert float(cox_partial_nll(lh, time, event)) == pytest.approx(by_hand, rel=1e-6)
    enc = NeuralEncoder(modalities=("clinical", "proteomics"), target=("time", "event"), train=FAST, random_state=0)
    train, test = train_test_ids(small_cohort, 0.3, 0)
    enc.fit(small_cohort, train)
    risk, _ = enc.predict_risk(small_cohort, test)
    pos = row_positions(small_cohort, test)
    assert concordance_index(small_cohort.outcome("time")[pos], small_cohort.outcome("event")[pos], risk) > 0.6


def test_uncertainty_determinism_and_persistence(small_cohort, tmp_path):
    train, test = train_test_ids(small_cohort, 0.3, 0)
    params = dict(modalities=("clinical", "proteomics"), train=FAST, random_state=3)
    a = NeuralEncoder(n_ensemble=2, **params).fit(small_cohort, train)
    b = NeuralEncoder(n_ensemble=2, **params).fit(small_cohort, train)
    np.testing.assert_array_equal(a.transform(small_cohort), b.transform(small_cohort))
    mean, sd = a.predict_risk(small_cohort, test, mc_samples=10)
    assert (sd > 0).mean() > 0.99 and np.all((mean > 0) & (mean < 1))
    _, sd_plain = NeuralEncoder(**params).fit(small_cohort, train).predict_risk(small_cohort, test)
    assert np.all(sd_plain == 0)  # one member, no MC dropout: deterministic
    path = a.save(tmp_path / "enc.pt")
    loaded = NeuralEncoder.load(path)
    np.testing.assert_array_equal(loaded.transform(small_cohort, test), a.transform(small_cohort, test))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_repeats_with_the_same_seed_and_members_rest_on_cpu():
    cohort = simulate_cohort(n=1200, n_drugs=3, random_state=5).cohort  # with ECG: convolutions in cuDNN
    train, _ = train_test_ids(cohort, 0.3, 0)
    params = dict(fusion="attention", train={**FAST, "device": "cuda", "amp": False}, random_state=1)
    a = NeuralEncoder(**params).fit(cohort, train)
    b = NeuralEncoder(**params).fit(cohort, train)
    np.testing.assert_array_equal(a.transform(cohort), b.transform(cohort))
    assert a.history_[0]["device"].startswith("cuda")
    assert all(p.device.type == "cpu" for p in a.members_[0].parameters())


def test_precise_batchnorm_uses_the_current_weights_with_dropout_off():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.drop, self.lin, self.bn = torch.nn.Dropout(0.9), torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2)

        def forward(self, batch):
            return self.bn(self.lin(self.drop(batch["x"])))

    torch.manual_seed(0)
    net, x = Net(), torch.randn(300, 3) * 2 + 1
    net.bn.running_mean.fill_(50.0)  # stale statistics from earlier weights
    rows = torch.arange(200)  # only these rows, in two batches of 100
    precise_batchnorm(net, {"x": x}, rows, 100, torch.device("cpu"), amp=False, dtype=torch.float32)
    with torch.no_grad():
        h = net.lin(x[:200])  # dropout off
    mean = (h[:100].mean(0) + h[100:].mean(0)) / 2
    var = (h[:100].var(0, unbiased=True) + h[100:].var(0, unbiased=True)) / 2
    torch.testing.assert_close(net.bn.running_mean, mean)
    torch.testing.assert_close(net.bn.running_var, var)
    assert net.bn.momentum == 0.1 and not net.training


def test_leak_test_encoder_sees_only_training_patients(small_cohort):
    cohort = small_cohort
    train, test = train_test_ids(cohort, 0.3, 0)
    params = dict(modalities=("clinical", "genomics", "proteomics"), train={"epochs": 3}, random_state=0)
    clean = NeuralEncoder(**params).fit(cohort, train)
    poisoned_clinical = cohort.clinical.copy()
    is_test = poisoned_clinical["patient_id"].isin(test)
    poisoned_clinical.loc[is_test, "age"] = 1e4
    prot = cohort.proteomics.copy()
    prot.loc[prot["patient_id"].isin(test), "GDF15"] *= 1e6
    out = cohort.outcomes.copy()
    out.loc[out["patient_id"].isin(test), "disease"] = 1 - out.loc[out["patient_id"].isin(test), "disease"]
    import dataclasses

    poisoned = dataclasses.replace(cohort, clinical=poisoned_clinical, proteomics=prot, outcomes=out)
    again = NeuralEncoder(**params).fit(poisoned, train)
    for p1, p2 in zip(clean.members_[0].state_dict().values(), again.members_[0].state_dict().values()):
        torch.testing.assert_close(p1, p2, rtol=0, atol=0)
    np.testing.assert_array_equal(clean.transform(cohort, train), again.transform(poisoned, train))
    # the check can fail: fitting on the test rows as well changes the encoder
    leaky = NeuralEncoder(**params).fit(poisoned, cohort.patient_ids)
    assert not np.allclose(leaky.transform(cohort, train), clean.transform(cohort, train))


def test_bad_settings_are_named(small_cohort):
    train, _ = train_test_ids(small_cohort, 0.3, 0)
    with pytest.raises(ValidationError, match="no 'ecg' data"):
        NeuralEncoder(modalities=("ecg",)).fit(small_cohort, train)
    with pytest.raises(ValidationError, match="no column 'risk'"):
        NeuralEncoder(modalities=("clinical",), target="risk").fit(small_cohort, train)
    with pytest.raises(ValidationError, match="must be 0/1"):
        NeuralEncoder(modalities=("clinical",), target="efficacy").fit(small_cohort, train)
    with pytest.raises(ValidationError, match="fusion"):
        NeuralEncoder(fusion="sum").fit(small_cohort, train)
    with pytest.raises(ValidationError, match="not in the cohort"):
        NeuralEncoder(modalities=("clinical",)).fit(small_cohort, np.r_[train, ["nobody"]])
    with pytest.raises(ValidationError, match="both train and validation"):
        Split(train=train[:20], validation=train[10:30])
    if not torch.cuda.is_available():
        with pytest.raises(ValidationError, match="CUDA is not available"):
            NeuralEncoder(modalities=("clinical",), train={"device": "cuda"}).fit(small_cohort, train)
