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
    noisy = encoding.encode(codes) + 0.2 * (encoding.values[1] - encoding.values[0])
    np.testing.assert_array_equal(encoding.decode(noisy), codes)


def test_haplotype_encoding_has_two_codes():
    encoding = GenotypeEncoding("centered", haplotype=True)
    np.testing.assert_allclose(encoding.values, [-1, 1])
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
