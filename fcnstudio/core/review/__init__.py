"""The label review's core (numpy + OpenCV): scores, regions, folds, probabilities and the review folder.

The training side (``fcnstudio.train.review``) trains one model per fold and
feeds held-out probabilities to these functions; the CLI reads the result
through :func:`read_review`, the window's Review dock through
:class:`ReviewQueue` (and accepts a region with :func:`region_pixels`). See
docs/DESIGN.md, "The label review".
"""

from .accept import region_pixels
from .dismissals import Dismissal, add_dismissal, box_iou, dismissal_for, filter_review, is_dismissed, read_dismissals
from .folder import REVIEW_FILE, list_reviews, make_review_dir, read_review, reviews_dir, write_review
from .folds import contiguous_folds
from .probs import ProbMap, probs_path, read_probs, write_probs
from .queue import ALL_REGIONS, BY_IMAGE, QueueItem, ReviewQueue
from .regions import KINDS, Region, confident_pixels, extract_regions, flagged_pixels
from .report import FoldQuality, ImageReview, Review, UnrankedImage
from .scores import (ClassThresholds, ImageScore, image_score, region_score, score_fold_images, score_image, softmin,
                     softmin_quality)
from .trust import MIN_MEAN_FG_IOU, MIN_PIXEL_ACCURACY, gate_foreground_iou, verdict

__all__ = [
    "ALL_REGIONS", "BY_IMAGE", "KINDS", "MIN_MEAN_FG_IOU", "MIN_PIXEL_ACCURACY", "REVIEW_FILE", "ClassThresholds",
    "Dismissal", "FoldQuality", "ImageReview", "ImageScore", "ProbMap", "QueueItem", "Region", "Review", "ReviewQueue",
    "UnrankedImage", "add_dismissal", "box_iou", "confident_pixels", "contiguous_folds", "dismissal_for",
    "extract_regions", "filter_review", "flagged_pixels", "gate_foreground_iou", "image_score", "is_dismissed",
    "list_reviews", "make_review_dir", "probs_path", "read_dismissals", "read_probs", "read_review", "region_pixels",
    "region_score", "reviews_dir", "score_fold_images", "score_image", "softmin", "softmin_quality", "verdict",
    "write_probs", "write_review",
]
