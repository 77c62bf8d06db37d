"""benchmarks/synth_ablation.py's scoring on the real development photos (skipped without them:
set $HANDKIT_REALDATA; they are never part of the repository)."""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
REALDATA = os.environ.get("HANDKIT_REALDATA")


@pytest.mark.skipif(not REALDATA or not Path(REALDATA).is_dir(),
                    reason="set HANDKIT_REALDATA to the realdata folder")
def test_scores_the_labels_perfectly_and_the_mean_pose_poorly():
    sys.path.insert(0, str(BENCH))
    import real_photos as rp
    import synth_ablation as sa

    photos = rp.load_realdata(Path(REALDATA))

    tallies = {}
    for photo in photos:
        for hand in photo.hands:
            tallies.setdefault(photo.source, rp.Tally()).add(np.nan_to_num(hand.kp), hand)
    line = sa.row("labels", tallies)
    assert line.count("1.00 · 0.0 px") == len(rp.SOURCES) + 1
    mean = sa.score(None, photos, rp.mean_pose(rp.synthetic_poses(16)[0]))
    total = rp.total_of(mean, [s for s in rp.SOURCES if s != "rhd"])
    assert total.hands == 32 and total.within / total.labelled < 0.2
