"""The image-based DFT metric: max |df_test - df_ref| / range(df_ref), on hand-made stacks."""

from __future__ import annotations

import numpy as np
import pytest

from iceafm.afm.compare import slice_rel_diff, stack_rel_diff


def _reference() -> np.ndarray:
    """2 views x 2 heights x 2 x 2 px (Hz): view 0 spans -10..0 Hz, view 1 spans -4..0 Hz."""
    ref = np.zeros((2, 2, 2, 2))
    ref[0, 0] = [[-10.0, -5.0], [-2.0, 0.0]]  # slice range 10
    ref[0, 1] = [[-1.0, -1.0], [-1.0, -3.0]]  # slice range 2
    ref[1, 0] = [[-4.0, 0.0], [-1.0, -1.0]]  # slice range 4
    ref[1, 1] = [[-0.5, -0.5], [-0.5, -1.0]]  # slice range 0.5
    return ref


def test_known_answer_per_stack_and_per_slice():
    ref = _reference()
    test = ref.copy()
    test[0, 1, 0, 0] += 0.5  # 0.5 Hz off in view 0 (range 10), height 1 (range 2)
    test[1, 0, 1, 1] -= 0.2  # 0.2 Hz off in view 1 (range 4), height 0 (range 4)
    np.testing.assert_allclose(stack_rel_diff(test, ref), [0.05, 0.05])
    # height 0: max(0 / 10, 0.2 / 4); height 1: max(0.5 / 2, 0 / 0.5)
    np.testing.assert_allclose(slice_rel_diff(test, ref), [0.05, 0.25])


def test_identical_stacks_and_a_uniform_offset():
    ref = _reference()
    np.testing.assert_array_equal(stack_rel_diff(ref, ref), [0.0, 0.0])
    # A uniform df background of 1 Hz is a real image difference: 1 / 10 and 1 / 4.
    np.testing.assert_allclose(stack_rel_diff(ref + 1.0, ref), [0.1, 0.25])


def test_is_asymmetric_the_reference_sets_the_scale():
    ref = _reference()
    test = 2.0 * ref  # twice the contrast: error = |ref|, max |ref| / range(ref) = 1
    np.testing.assert_allclose(stack_rel_diff(test, ref), [1.0, 1.0])
    np.testing.assert_allclose(stack_rel_diff(ref, test), [0.5, 0.5])


def test_bad_shapes_and_flat_reference_are_rejected():
    ref = _reference()
    with pytest.raises(ValueError, match="same"):
        stack_rel_diff(ref[:1], ref)
    with pytest.raises(ValueError, match="flat"):
        stack_rel_diff(np.zeros((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="n_views, n_heights"):
        slice_rel_diff(ref[0], ref[0])
