"""Two-hand part labels: DIGIT's class order, hand swap, occlusion decides the label."""

import numpy as np
import pytest
import torch

from handkit.data.part_masks import (DIGIT_PART_OF_HANDKIT, NUM_CLASSES, from_digit_classes,
                                     render_part_seg, scene_part_seg, swap_hands,
                                     to_digit_classes)
from handkit.hand.model import PART_NAMES


def test_digit_class_ids_per_hand():
    assert sorted(DIGIT_PART_OF_HANDKIT) == list(range(16))
    palm, thumb_tip = PART_NAMES.index("palm"), PART_NAMES.index("thumb_distal")
    right = np.array([0, 1 + palm, 1 + thumb_tip], np.uint8)
    assert to_digit_classes(right).tolist() == [0, 8 + 1, 12 + 1]  # right p -> p + 1
    assert to_digit_classes(right + np.array([0, 16, 16], np.uint8)).tolist() == [0, 25, 29]
    pinky_mid = 1 + PART_NAMES.index("pinky_middle")
    assert to_digit_classes(np.array([pinky_mid, pinky_mid + 16])).tolist() == [14, 30]  # 13
    every = np.arange(NUM_CLASSES, dtype=np.uint8)
    assert np.array_equal(from_digit_classes(to_digit_classes(every)), every)
    assert torch.equal(to_digit_classes(torch.from_numpy(every)),
                       torch.from_numpy(to_digit_classes(every)))
    with pytest.raises(ValueError, match="part_seg"):
        to_digit_classes(np.array([33]))


def test_swap_hands_is_an_involution_and_keeps_background():
    labels = np.arange(NUM_CLASSES, dtype=np.uint8)
    assert swap_hands(labels)[[0, 1, 16, 17, 32]].tolist() == [0, 17, 32, 1, 16]
    assert np.array_equal(swap_hands(swap_hands(labels)), labels)
    # swapping commutes with the re-encoding (the flip can happen in either encoding)
    assert np.array_equal(to_digit_classes(swap_hands(labels)),
                          swap_hands(to_digit_classes(labels)))


def _square(x0, x1, y0, y1, z):
    return np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], np.float64)


def test_nearer_hand_wins_where_two_hands_overlap():
    K = np.array([[100.0, 0, 10], [0, 100.0, 10], [0, 0, 1]])
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    parts = np.array([0, 0, 5, 5])  # face 0 -> palm, face 1 -> part 5 (first vertex rule)
    # right hand covers x in [-0.05, 0.01] m at z 1 (u in [5, 11) px), left [−0.01, 0.05] at z
    # 1 (u in [9, 15)); depth order set per case by moving whole hands
    def render(z_right, z_left):
        right = _square(-0.05, 0.01, -0.05, 0.05, 1.0) * [z_right, z_right, z_right]
        left = _square(-0.01, 0.05, -0.05, 0.05, 1.0) * [z_left, z_left, z_left]
        return render_part_seg(np.stack([right, left]), faces, np.zeros(4, int), K, (20, 20))
    near_right = render(1.0, 1.1)
    near_left = render(1.1, 1.0)
    overlap = (10, 10)  # pixel centre (10.5, 10.5): inside both squares in both cases
    assert near_right[overlap] == 1 and near_left[overlap] == 17  # palm of the nearer hand
    assert near_right[10, 6] == 1 and near_left[10, 14] == 17  # each hand alone
    assert near_right[10, 18] == 0 and near_right[1, 1] == 0  # background
    assert set(np.unique(near_right)) == {0, 1, 17}
    # a face takes its first vertex's part: (2, 0, 1) -> part 5, (0, 2, 3) -> palm
    one = render_part_seg(_square(-0.05, 0.05, -0.05, 0.05, 1.0)[None],
                          np.array([[2, 0, 1], [0, 2, 3]]), parts, K, (20, 20), slots=(1,))
    assert one[6, 14] == 17 + 5 and one[14, 6] == 17  # above / below the diagonal v0-v2
    missing = np.full((1, 4, 3), np.nan)
    assert not render_part_seg(missing, faces, parts, K, (4, 4), slots=(0,)).any()


def test_scene_labels_take_the_slot_of_the_visible_hand():
    instance = np.array([[-1, 0, 1], [1, 1, 0]], np.int8)
    parts = np.array([[0, 3, 1], [16, 2, 1]], np.uint8)
    out = scene_part_seg(instance, parts, slots=(0, 1))
    assert out.tolist() == [[0, 3, 17], [32, 18, 1]]
    assert scene_part_seg(instance, parts, slots=(1, 0)).tolist() == [[0, 19, 1], [16, 2, 17]]
