import numpy as np
import pytest
import torch

from handkit.utils.check import as_tensor, check_choice, check_finite, check_shape


def test_check_shape_binds_letters():
    assert check_shape(torch.zeros(8, 21, 3), "B 21 3", name="joints") == {"B": 8}
    assert check_shape(np.zeros((2, 5, 5)), "B N N", name="x") == {"B": 2, "N": 5}
    assert check_shape(torch.zeros(2, 3, 21, 3), "* 21 3", name="x") == {"*": 6}
    assert check_shape(torch.zeros(21, 3), "* 21 3", name="x") == {"*": 1}


def test_check_shape_message_is_exact():
    with pytest.raises(ValueError) as err:
        check_shape(torch.zeros(8, 16, 3), "B 21 3", name="joints", hint="Add the tips.")
    assert str(err.value) == "joints: expected (B, 21, 3), got (8, 16, 3). Add the tips."


@pytest.mark.parametrize("shape, pattern", [
    ((2, 5, 4), "B N N"),  # repeated letter must agree
    ((21, 3), "B 21 3"),  # too few dims
    ((1, 2, 21, 3), "B 21 3"),  # too many dims without *
    ((3,), "* 21 3"),  # too few dims even with *
])
def test_check_shape_rejects(shape, pattern):
    with pytest.raises(ValueError, match=r"^x: expected"):
        check_shape(torch.zeros(shape), pattern, name="x")


def test_check_shape_empty_batch():
    with pytest.raises(ValueError, match=r"x: got an empty batch \(0, 21, 3\)"):
        check_shape(torch.zeros(0, 21, 3), "B 21 3", name="x")
    assert check_shape(torch.zeros(0, 21, 3), "B 21 3", name="x", allow_empty=True) == {"B": 0}


def test_check_shape_non_array():
    with pytest.raises(ValueError, match=r"x: expected a torch.Tensor or numpy.ndarray, got list"):
        check_shape([1, 2], "N", name="x")


def test_check_finite_names_first_bad_index():
    x = torch.zeros(2, 3)
    check_finite(x, name="x")
    x[1, 2] = float("inf")
    with pytest.raises(ValueError, match=r"x: contains NaN or inf \(first at index \(1, 2\)\)"):
        check_finite(x, name="x")
    arr = np.zeros((2, 2))
    arr[0, 1] = np.nan
    with pytest.raises(ValueError, match=r"arr: contains NaN or inf \(first at index \(0, 1\)\)"):
        check_finite(arr, name="arr")


def test_check_choice_lists_sorted_choices():
    check_choice("b", {"b": 1, "a": 2}, name="mode")
    with pytest.raises(ValueError) as err:
        check_choice("c", {"b": 1, "a": 2}, name="mode")
    assert str(err.value) == "mode: unknown value 'c'; choose one of ['a', 'b']."


def test_as_tensor():
    t = torch.zeros(3)
    assert as_tensor(t, name="x") is t
    assert as_tensor([[1, 2]], name="x").shape == (1, 2)
    assert as_tensor(np.ones(2), name="x", dtype=torch.float32).dtype == torch.float32
    with pytest.raises(ValueError, match=r"x: cannot be read as a numeric array"):
        as_tensor("abc", name="x")
