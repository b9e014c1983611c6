"""Video and image files: read and write uint8 RGB frames (mp4, webm, gif, frame folders, images).

No torch here: this package is imported by data loaders and the pose tools and must stay light.
"""

from animatex.io.atomic import atomic_output, write_text
from animatex.io.image import IMAGE_SUFFIXES, read_image, resize_frames, write_image
from animatex.io.video import DEFAULT_FPS, VIDEO_SUFFIXES, read_video, write_video

__all__ = [
    "DEFAULT_FPS",
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "atomic_output",
    "read_image",
    "read_video",
    "resize_frames",
    "write_image",
    "write_text",
    "write_video",
]
