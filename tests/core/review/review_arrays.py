"""Arrays for the review's tests: a scene, its true labels, and the probabilities of a model that learned it."""

import cv2
import numpy as np

H, W, C = 96, 128, 3


def scene():
    """(image uint8, truth): a bright disc (class 1) and a brighter square (class 2) on a dark background."""
    truth = np.zeros((H, W), np.uint8)
    cv2.circle(truth, (40, 40), 14, 1, -1)
    cv2.rectangle(truth, (80, 50), (110, 80), 2, -1)
    image = (30 + 120 * (truth == 1) + 200 * (truth == 2)).astype(np.uint8)
    return image, truth


def probs_for(pred, conf=0.95, classes=C):
    """H x W x C probabilities: ``conf`` on the class of ``pred``, the rest shared."""
    p = np.full(pred.shape + (classes,), (1 - conf) / (classes - 1), np.float32)
    for k in range(classes):
        p[pred == k, k] = conf
    return p


def disc(radius):
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
