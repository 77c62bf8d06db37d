"""Similar-hand mining (SiMHand's positives): 2D keypoints -> pose embedding -> kNN from other
videos -> ranked `positive_sample` / `distance` in a Hand100M annotation file (docs/mining.md)."""

from handkit.mining.detect2d import (
    Detections, KeypointSource, LabelKeypoints, MediaPipeKeypoints, ModelKeypoints)
from handkit.mining.embed import PosePCA, embed_poses, fit_pca
from handkit.mining.knn import KnnResult, build_index, search_other_videos
from handkit.mining.pairs import MiningReport, mine_annotations, pair_quality, video_groups

__all__ = [
    "Detections", "KeypointSource", "LabelKeypoints", "MediaPipeKeypoints", "ModelKeypoints",
    "PosePCA", "embed_poses", "fit_pca", "KnnResult", "build_index", "search_other_videos",
    "MiningReport", "mine_annotations", "pair_quality", "video_groups",
]
