"""Poses: the data model, detection, drawing, retargeting and the Explicit Pose Indicator."""

from animatex.pose.sequence import PoseSequence

__all__ = ["PoseSequence"]
