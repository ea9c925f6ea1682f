import numpy as np
import pytest

from snpdiff.data.encoding import GenotypeEncoding
from snpdiff.errors import ConfigError


@pytest.mark.parametrize(
    ("mode", "scale", "expected"),
    [
        ("unit", 1.0, [0, 0.5, 1]),
        ("unit", 0.5, [0, 0.25, 0.5]),
        ("centered", 1.0, [-1, 0, 1]),
        ("dosage", 1.0, [0, 1, 2]),
    ],
)
def test_encode_decode_round_trip(mode, scale, expected):
    encoding = GenotypeEncoding(mode, scale)
    codes = np.array([[0, 1, 2, 1]], dtype=np.int8)
    np.testing.assert_allclose(encoding.encode(codes)[0], np.array(expected)[codes[0]])
    noisy = encoding.encode(codes) + 0.2 * (encoding.code_values[1] - encoding.code_values[0])
    np.testing.assert_array_equal(encoding.decode(noisy), codes)


def test_haplotype_encoding_has_two_codes():
    encoding = GenotypeEncoding("centered", haplotype=True)
    np.testing.assert_allclose(encoding.code_values, [-1, 1])
    np.testing.assert_array_equal(encoding.decode(np.array([-0.3, 0.1, 5.0])), [0, 1, 1])


def test_unknown_encoding_names_the_key():
    with pytest.raises(ConfigError, match=r"data.encoding='binary'.*allowed"):
        GenotypeEncoding("binary")


def test_decode_by_frequencies_matches_training_genotype_frequencies():
    import numpy as np

    from snpdiff.data.encoding import GenotypeEncoding

    encoding = GenotypeEncoding("centered")
    values = np.array([[-0.2, 0.9], [0.1, 0.8], [0.2, 0.7], [0.3, -0.9]], dtype=np.float32)
    frequencies = np.array([[0.25, 0.5, 0.25], [0.5, 0.0, 0.5]])
    codes = encoding.decode_by_frequencies(values, frequencies)
    assert codes[:, 0].tolist() == [0, 1, 1, 2]  # ranks cut at 25% and 75%
    assert codes[:, 1].tolist() == [2, 2, 0, 0]  # half 0, half 2, by rank


@pytest.mark.parametrize(("haplotype", "n_codes"), [(False, 3), (True, 2)])
def test_onehot_gives_one_channel_per_code_and_decodes_by_argmax(haplotype, n_codes):
    encoding = GenotypeEncoding("onehot", scale=2.0, haplotype=haplotype)
    rng = np.random.default_rng(0)
    codes = rng.integers(0, n_codes, size=(5, 7)).astype(np.int8)
    values = encoding.to_model(codes)
    assert encoding.channels == n_codes and values.shape == (5, n_codes, 7)
    # +scale on the code's channel, -scale on every other one
    np.testing.assert_array_equal(values.argmax(axis=1), codes)
    np.testing.assert_array_equal(np.sort(np.unique(values)), [-2.0, 2.0])
    assert (values == 2.0).sum(axis=1).max() == 1
    # a sample is clipped to [-scale, scale]; noise below half the gap keeps the argmax
    np.testing.assert_allclose(encoding.clip_range, [-2.0, 2.0])
    noisy = values + rng.uniform(-1.9, 1.9, size=values.shape).astype(np.float32)
    np.testing.assert_array_equal(encoding.from_model(noisy), codes)


def test_scalar_encodings_put_one_channel_in_the_model_layout():
    encoding = GenotypeEncoding("centered")
    codes = np.array([[0, 1, 2], [2, 2, 0]], dtype=np.int8)
    values = encoding.to_model(codes)
    assert encoding.channels == 1 and values.shape == (2, 1, 3)
    np.testing.assert_array_equal(encoding.from_model(values + 0.3), codes)


def test_onehot_scores_order_codes_by_expected_code_for_frequency_decoding():
    encoding = GenotypeEncoding("onehot")
    # three individuals at one SNP: clearly 0, between 1 and 2, clearly 2
    values = np.array([[[3.0], [-3.0], [-3.0]], [[-3.0], [1.0], [0.9]], [[-3.0], [-3.0], [3.0]]], dtype=np.float32)
    scores = encoding.scores(values)
    assert scores.shape == (3, 1)
    assert scores[0, 0] < 0.01 and 1.0 < scores[1, 0] < 1.6 and scores[2, 0] > 1.99
    codes = encoding.decode_by_frequencies(scores, np.array([[1 / 3, 1 / 3, 1 / 3]]))
    assert codes[:, 0].tolist() == [0, 1, 2]
