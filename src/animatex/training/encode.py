"""Training examples -> transformer inputs, through the pipeline's own encoders (one way to encode)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import torch

from animatex.pipelines.pipeline_animatex import POSE_CONDITIONS, TASK_CONDITIONS
from animatex.training.sampling import StepPlan, TrainingExample


def _frames(video: np.ndarray, device: torch.device) -> torch.Tensor:
    """(F, H, W, 3) uint8 -> (F, 3, H, W) float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(video)).to(device).permute(0, 3, 1, 2).float() / 255.0


class EncodeCache:
    """LRU cache of frozen encoders' outputs, keyed by the input's content (exact: encoding is deterministic).

    On a small dataset the same clip windows, reference frames and captions come back again and again; the VAE,
    the text encoder and a frozen CLIP then need not run twice. Entries stay on the device they were made on.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[tuple, torch.Tensor] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def digest(*arrays: np.ndarray) -> str:
        hasher = hashlib.blake2b(digest_size=16)
        for array in arrays:
            hasher.update(str(array.shape).encode())
            hasher.update(np.ascontiguousarray(array).tobytes())
        return hasher.hexdigest()

    def fill(self, keys: list[tuple], compute: Callable[[list[int]], torch.Tensor]) -> None:
        """Compute the missing ones of `keys` together (`compute(indices)` returns their values stacked on dim 0)."""
        if self.size <= 0:
            return
        first: dict[tuple, int] = {}  # each missing key once, at its first place in `keys`
        for i, key in enumerate(keys):
            if key not in self.entries:
                first.setdefault(key, i)
        missing = list(first.values())
        if not missing:
            return
        values = compute(missing).detach()
        for i, value in zip(missing, values, strict=True):
            self.misses += 1
            self.entries[keys[i]] = value[None]
            if len(self.entries) > self.size:
                self.entries.popitem(last=False)

    def get(self, key: tuple, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        if self.size <= 0:
            return compute()
        if key in self.entries:
            self.hits += 1
            self.entries.move_to_end(key)
            return self.entries[key]
        self.misses += 1
        value = compute().detach()
        self.entries[key] = value
        if len(self.entries) > self.size:
            self.entries.popitem(last=False)
        return value


def _frozen(module: torch.nn.Module | None) -> bool:
    return module is not None and not any(p.requires_grad for p in module.parameters())


def conditions_for(plan: StepPlan) -> frozenset[str]:
    """The task's conditions (the pipeline's table) minus what condition dropout removes this step."""
    uses = set(TASK_CONDITIONS[plan.task])
    if plan.drop_pose:
        uses -= {*POSE_CONDITIONS, "motion_embeds"}
    if plan.drop_image:
        uses -= {"y", "image_embeds"}
    return frozenset(uses)


def _encode_example(
    pipe, example: TrainingExample, uses: frozenset[str], device: torch.device, cache: EncodeCache
) -> dict[str, torch.Tensor]:
    """One example's transformer inputs (batch of one), frozen encoders' outputs through the cache."""
    transformer = pipe.transformer
    dtype = transformer.dtype
    video = _frames(example.video, device)
    num_frames, _, height, width = video.shape
    reference = _frames(example.reference[None], device)[0]
    video_key = cache.digest(example.video)
    reference_key = cache.digest(example.reference)

    row = {}
    with torch.no_grad():
        row["latents"] = cache.get(("latents", video_key), lambda: pipe.encode_video(video))
        if "y" in uses:
            row["condition"] = cache.get(
                ("y", reference_key, num_frames),
                lambda: pipe.prepare_condition(reference[None], 1, height, width, num_frames, device),
            )
        else:
            row["condition"] = pipe.prepare_condition(None, 1, height, width, num_frames, device)
    if transformer.config.image_dim is not None:
        if "image_embeds" not in uses:
            row["encoder_hidden_states_image"] = pipe.zero_image_embeds(1, device, dtype)
        elif _frozen(pipe.image_encoder):
            row["encoder_hidden_states_image"] = cache.get(
                ("clip", reference_key), lambda: pipe.encode_image(reference, device)
            )
        else:
            row["encoder_hidden_states_image"] = pipe.encode_image(reference, device)
    if transformer.config.use_pose_indicator and "motion_embeds" in uses:
        if _frozen(pipe.motion_encoder_and_processor[0]):
            row["motion_embeds"] = cache.get(("motion", video_key), lambda: pipe.encode_motion(video, device))
        else:
            row["motion_embeds"] = pipe.encode_motion(video, device)
    poses = pipe.prepare_pose_conditions(
        pose_video=_frames(example.pose_video, device),
        ref_pose=_frames(example.ref_pose[None], device)[0],
        # Only a transformer with an IPI reads keypoints (passing them otherwise warns on every clip).
        pose_keypoints=torch.from_numpy(example.keypoints).to(device)
        if transformer.config.use_pose_indicator
        else None,
        height=height,
        width=width,
        batch_size=1,
        device=device,
        dtype=dtype,
    )
    for name, value in poses.items():
        # The keypoints are the IPI's query: without the motion features (dropped) the IPI is off.
        if value is not None and name in uses and (name != "pose_keypoints" or "motion_embeds" in row):
            row[name] = value
    return row


def _fill_vae_encodings(
    pipe, examples: list[TrainingExample], uses: frozenset[str], device: torch.device, cache: EncodeCache
) -> None:
    """The VAE latents and `y` conditions a batch misses, each kind in one VAE call (a batch's misses encode
    1.6x faster than one call per example on 2 CPU cores, benchmarks/bench_encode.py); `_encode_example` then
    finds them in the cache."""
    if cache.size <= 0:
        return
    num_frames, height, width = examples[0].video.shape[:3]

    def latents(indices: list[int]) -> torch.Tensor:
        return pipe.encode_video(torch.stack([_frames(examples[i].video, device) for i in indices]))

    def conditions(indices: list[int]) -> torch.Tensor:
        references = torch.stack([_frames(examples[i].reference[None], device)[0] for i in indices])
        return pipe.prepare_condition(references, len(indices), height, width, num_frames, device)

    with torch.no_grad():
        cache.fill([("latents", cache.digest(e.video)) for e in examples], latents)
        if "y" in uses:
            cache.fill([("y", cache.digest(e.reference), num_frames) for e in examples], conditions)


def encode_batch(
    pipe,
    examples: list[TrainingExample],
    plan: StepPlan,
    device: torch.device,
    cache: EncodeCache | None = None,
) -> dict:
    """Latents x0, the condition `y`, text/CLIP/motion embeddings and pose inputs for a list of examples."""
    cache = cache or EncodeCache(0)
    uses = conditions_for(plan)
    dtype = pipe.transformer.dtype

    def encode_text(caption: str) -> torch.Tensor:
        return pipe.encode_prompt([caption], do_classifier_free_guidance=False, device=device, dtype=dtype)[0]

    captions = ["" if plan.drop_text else e.caption for e in examples]
    prompt_embeds = torch.cat(
        [cache.get(("text", caption, str(dtype)), lambda c=caption: encode_text(c)) for caption in captions]
    )
    rows: dict[str, list[torch.Tensor]] = {}
    _fill_vae_encodings(pipe, examples, uses, device, cache)
    for example in examples:
        for name, value in _encode_example(pipe, example, uses, device, cache).items():
            rows.setdefault(name, []).append(value)
    batch = {name: torch.cat(values).to(device) for name, values in rows.items()}
    batch["latents"] = batch["latents"].float()
    batch["condition"] = batch["condition"].to(dtype)
    batch["encoder_hidden_states"] = prompt_embeds
    return batch
