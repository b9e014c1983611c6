"""`AnimateXPipeline`: Animate-X++ character image animation on a Wan2.1 I2V DiT.

One reference picture + a rendered driving pose video (+ optionally the driving video itself and its body
keypoints for the Implicit Pose Indicator) + a text prompt -> a video of the character performing the motion.
The flow follows diffusers' `WanImageToVideoPipeline`; see docs/pipeline.md.
"""

from __future__ import annotations

import html
import json
import math
import numbers
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import (
    AutoencoderKLWan,
    DiffusionPipeline,
    FlowMatchEulerDiscreteScheduler,
    ModelMixin,  # noqa: F401  (folders saved before 0.2 name this module as the transformer's library)
)
from diffusers.loaders import WanLoraLoaderMixin
from diffusers.models.autoencoders.autoencoder_kl_wan import unpatchify
from diffusers.utils import logging
from diffusers.utils.torch_utils import randn_tensor
from diffusers.video_processor import VideoProcessor
from transformers import (
    BaseImageProcessor,
    CLIPVisionModelWithProjection,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from animatex.models.transformer_animatex import (
    TEXT_SEQUENCE_LENGTH,
    AnimateXPoseFeatures,
    AnimateXTransformer3DModel,
)
from animatex.pipelines.inputs import (
    FramesInfo,
    ImageInput,
    KeypointsInput,
    PoseImageInput,
    PoseVideoInput,
    VideoInput,
    check_image,
    check_keypoints,
    check_pose_image,
    check_pose_video,
    check_video,
    image_to_tensor,
    keypoints_to_tensor,
    pose_video_to_tensor,
    video_to_tensor,
)
from animatex.pipelines.pipeline_output import AnimateXPipelineOutput
from animatex.pipelines.speed import check_one_call_per_step
from animatex.pipelines.windows import (
    WindowSettings,
    blend_weights,
    chain_windows,
    check_settings,
    context_windows,
    crossfade,
    default_overlap,
    match_colours,
    round_up_frames,
    take_frames,
)
from animatex.pose.sequence import PoseSequence

logger = logging.get_logger(__name__)

OUTPUT_TYPES = ("np", "pil", "pt", "latent")

# The one place that decides which conditions each task feeds the transformer. A condition left out is
# absent: `None` for the optional pose inputs, zeros for the inputs an I2V DiT cannot go without (`y` and the
# CLIP tokens). ti2v follows the official release's `is_i2v` switch (`diffsynth/pipelines/wan_video.py`): it
# zeroes the pose tokens, the ref-pose features, `y` and the CLIP features, but still feeds the IPI (keypoints +
# driving frames) to both CFG branches.
# How `set_timesteps` spaces a call's noise levels (see there).
SIGMA_SCHEDULES = ("diffusers", "wan")
TASK_CONDITIONS: dict[str, frozenset[str]] = {
    "animate": frozenset({"image_embeds", "y", "pose_video", "ref_pose", "pose_keypoints", "motion_embeds"}),
    "ti2v": frozenset({"pose_keypoints", "motion_embeds"}),
}
# The negative CFG branch drops only the driving-pose tokens and keeps y, ref-pose, CLIP and IPI features,
# as the official release does (its `wan_video.py` negative branch): names of `AnimateXPoseFeatures` fields.
TASKS = tuple(TASK_CONDITIONS)
UNCOND_DROPPED = ("pose_states",)
POSE_CONDITIONS = ("pose_video", "ref_pose", "pose_keypoints")


def _clean_prompt(text: str) -> str:
    return " ".join(html.unescape(html.unescape(text)).split())


def _concat_frames(chunks: list) -> Any:
    """Windows' frames (np / pt arrays with frames on axis 1, or per-video lists of PIL images) as one video."""
    if isinstance(chunks[0], torch.Tensor):
        return torch.cat(chunks, dim=1)
    if isinstance(chunks[0], list):
        return [sum((chunk[b] for chunk in chunks), []) for b in range(len(chunks[0]))]
    import numpy as np

    return np.concatenate(chunks, axis=1)


def _counting(velocity: Callable, progress_bar: Any) -> Callable:
    """`velocity` that advances `progress_bar` by one after each call."""

    def counted(*args: Any) -> Any:
        result = velocity(*args)
        progress_bar.update()
        return result

    return counted


def _resize(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear resize of (N, 3, h, w) pictures to (N, 3, height, width); identity when the size matches."""
    if frames.shape[-2:] == (height, width):
        return frames
    return F.interpolate(frames, size=(height, width), mode="bilinear", antialias=True, align_corners=False)


class AnimateXPipeline(DiffusionPipeline, WanLoraLoaderMixin):
    """Animate a reference character with a driving pose video (Animate-X++), or run text+image-to-video.

    Args:
        tokenizer: Tokenizer of `text_encoder`.
        text_encoder: Any encoder whose output has `.last_hidden_state` (UMT5 for real Wan checkpoints).
        vae ([`AutoencoderKLWan`]): Video VAE.
        scheduler ([`FlowMatchEulerDiscreteScheduler`]): Flow-matching Euler sampler.
        transformer ([`AnimateXTransformer3DModel`]): The denoiser with the pose guider, ref-pose encoder and IPI.
        image_processor: CLIP image processor of `image_encoder`.
        image_encoder ([`CLIPVisionModelWithProjection`]): Gives the reference's CLIP tokens (penultimate
            hidden states) and, without a `motion_encoder`, the per-frame projected `image_embeds` for the IPI.
        motion_encoder: Optional separate image encoder for the IPI (official: OpenCLIP ViT-H/14 pooled tokens).
        motion_processor: Image processor of `motion_encoder`; `image_processor` when absent.
        default_num_inference_steps / default_guidance_scale / default_text_guidance_scale: The sampler settings a
            call uses when it names none (saved in model_index.json, so a shipped model carries the settings it
            was measured with).
        reference_in_every_frame: What the latent part of the condition `y` holds: False (Wan2.1 I2V) the
            reference as the first frame and empty frames after it; True the reference held still for the whole
            clip, so every latent frame carries the character's look at its place (the mask channels still mark
            only the first frame as given). No weights change; for small models trained from scratch (the demo
            model), which otherwise must learn to carry the look from frame 0 by attention alone.
        default_max_area: The output area (height x width) a call without a size gets, in the reference's aspect
            ratio: the area the model was trained at (Wan2.1 480p: 832 x 480). None: the reference's own size.
        default_window_frames: The model's native clip length (4k+1; Wan2.1: 81, the demo model: 17). A driving
            video longer than this is generated in windows of this length (`WindowSettings`); None: one window
            for the whole video, however long.
        default_window_strategy: How windows are joined when a call names none: "chain" (each window carries
            the previous one's last frames), "context" (overlapping windows blended at every step) or "none".

    LoRAs for the Wan2.1 transformer (diffusers, PEFT or original "diffusion_model." keys, e.g. few-step
    distillation LoRAs) load with `load_lora_weights` (diffusers' `WanLoraLoaderMixin`).
    """

    model_cpu_offload_seq = "text_encoder->image_encoder->motion_encoder->transformer->vae"
    _optional_components = [
        "tokenizer",
        "text_encoder",
        "image_processor",
        "image_encoder",
        "motion_encoder",
        "motion_processor",
    ]
    _callback_tensor_inputs = ["latents", "prompt_embeds", "negative_prompt_embeds"]

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase | None,
        text_encoder: PreTrainedModel | None,
        vae: AutoencoderKLWan,
        scheduler: FlowMatchEulerDiscreteScheduler,
        transformer: AnimateXTransformer3DModel,
        image_processor: BaseImageProcessor | None = None,
        image_encoder: CLIPVisionModelWithProjection | None = None,
        motion_encoder: PreTrainedModel | None = None,
        motion_processor: BaseImageProcessor | None = None,
        default_num_inference_steps: int = 50,
        default_guidance_scale: float = 3.0,
        default_text_guidance_scale: float = 1.0,
        reference_in_every_frame: bool = False,
        default_max_area: int | None = None,
        default_window_frames: int | None = None,
        default_window_strategy: str = "chain",
        sigma_schedule: str = "diffusers",
    ):
        super().__init__()
        if sigma_schedule not in SIGMA_SCHEDULES:
            raise ValueError(f"`sigma_schedule` must be one of {SIGMA_SCHEDULES}, got {sigma_schedule!r}")
        if not isinstance(default_num_inference_steps, int) or default_num_inference_steps < 1:
            raise ValueError(
                f"`default_num_inference_steps` must be a positive integer, got {default_num_inference_steps!r}"
            )
        # The sampler settings the model was tuned for, kept in model_index.json: a small model trained without
        # text/pose dropout to spare may sample best with CFG off and few steps, a large one with CFG on.
        self.register_to_config(
            default_num_inference_steps=default_num_inference_steps,
            default_guidance_scale=float(default_guidance_scale),
            default_text_guidance_scale=float(default_text_guidance_scale),
            reference_in_every_frame=bool(reference_in_every_frame),
            default_max_area=default_max_area,
            default_window_frames=default_window_frames,
            default_window_strategy=default_window_strategy,
            sigma_schedule=sigma_schedule,
        )
        self.register_modules(
            tokenizer=tokenizer,
            text_encoder=text_encoder,
            vae=vae,
            scheduler=scheduler,
            image_processor=image_processor,
            image_encoder=image_encoder,
            transformer=transformer,
            motion_encoder=motion_encoder,
            motion_processor=motion_processor,
        )
        self.vae_scale_factor_temporal = (
            self.vae.config.scale_factor_temporal if getattr(self, "vae", None) else 4
        )
        self.vae_scale_factor_spatial = (
            self.vae.config.scale_factor_spatial if getattr(self, "vae", None) else 8
        )
        self.video_processor = VideoProcessor(vae_scale_factor=self.vae_scale_factor_spatial)

    def register_modules(self, **kwargs: Any) -> None:
        super().register_modules(**kwargs)
        # diffusers records a component's defining module (`animatex.models.transformer_animatex`) and finds its
        # load method by looking `ModelMixin` up in that module. Record the public package instead, which exports
        # both names, so saved folders do not depend on our file layout.
        transformer = kwargs.get("transformer")
        if isinstance(transformer, AnimateXTransformer3DModel):
            self.register_to_config(transformer=("animatex.models", type(transformer).__name__))

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any
    ) -> AnimateXPipeline:
        """diffusers loading, plus the migration of folders saved before `reference_in_every_frame` moved from
        the transformer's config.json to model_index.json."""
        folder = Path(pretrained_model_name_or_path)
        if "reference_in_every_frame" not in kwargs and (folder / "model_index.json").is_file():
            index = json.loads((folder / "model_index.json").read_text())
            transformer_config = folder / "transformer" / "config.json"
            if "reference_in_every_frame" not in index and transformer_config.is_file():
                legacy = json.loads(transformer_config.read_text()).get("reference_in_every_frame")
                if legacy is not None:
                    kwargs["reference_in_every_frame"] = legacy
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    # ---- properties ----------------------------------------------------------------------------------------
    @property
    def guidance_scale(self) -> float:
        return self._guidance_scale

    @property
    def do_classifier_free_guidance(self) -> bool:
        return self._guidance_scale > 1

    @property
    def text_guidance_scale(self) -> float:
        return self._text_guidance_scale

    @property
    def do_text_guidance(self) -> bool:
        return getattr(self, "_text_guidance_scale", 1.0) > 1

    @property
    def num_timesteps(self) -> int:
        return self._num_timesteps

    @property
    def current_timestep(self) -> torch.Tensor | None:
        return self._current_timestep

    @property
    def interrupt(self) -> bool:
        return self._interrupt

    @property
    def size_multiple(self) -> tuple[int, int]:
        """Height and width must be multiples of these: VAE downsampling times the DiT's patch size."""
        patch = self.transformer.config.patch_size
        return self.vae_scale_factor_spatial * patch[1], self.vae_scale_factor_spatial * patch[2]

    def _uses(self, module_flag: str) -> bool:
        return bool(getattr(self.transformer.config, module_flag, False))

    @property
    def motion_encoder_and_processor(self) -> tuple[Any, Any]:
        """The (encoder, processor) pair the IPI reads: the dedicated motion encoder, else the image encoder."""
        if self.motion_encoder is not None:
            return self.motion_encoder, self.motion_processor or self.image_processor
        return self.image_encoder, self.image_processor

    # ---- 1. checks -----------------------------------------------------------------------------------------
    def check_inputs(
        self,
        image: ImageInput,
        pose_video: PoseVideoInput | None,
        pose_keypoints: KeypointsInput | None,
        driving_video: VideoInput | None,
        ref_pose: PoseImageInput | None,
        prompt: str | list[str] | None,
        negative_prompt: str | list[str] | None,
        prompt_embeds: torch.Tensor | None,
        negative_prompt_embeds: torch.Tensor | None,
        height: int | None,
        width: int | None,
        num_frames: int | None,
        num_inference_steps: int,
        output_type: str,
        task: str,
        latents: torch.Tensor | None,
    ) -> None:
        """Raise `ValueError` naming the first bad argument and what it should be."""
        if task not in TASKS:
            raise ValueError(f"`task` must be one of {TASKS}, got {task!r}")
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"`output_type` must be one of {OUTPUT_TYPES}, got {output_type!r}")
        if not isinstance(num_inference_steps, int) or num_inference_steps < 1:
            raise ValueError(f"`num_inference_steps` must be a positive integer, got {num_inference_steps!r}")
        for name in ("guidance_scale", "text_guidance_scale"):
            value = getattr(self, f"_{name}", 1.0)  # set by __call__ before it checks the inputs
            if not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ValueError(f"`{name}` must be a finite number, got {value!r}")
        for name, value in (("height", height), ("width", width), ("num_frames", num_frames)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"`{name}` must be a positive integer or None, got {value!r}")

        # components
        for name in ("transformer", "vae", "scheduler"):
            if getattr(self, name, None) is None:
                raise ValueError(f"the pipeline has no `{name}`; pass one to `AnimateXPipeline(...)`")
        if self.transformer.config.image_dim is not None and (
            self.image_encoder is None or self.image_processor is None
        ):
            raise ValueError(
                "the transformer reads CLIP image tokens (`image_dim` is set) but the pipeline has no "
                "`image_encoder`/`image_processor`; load them into the pipeline"
            )

        # text
        if prompt is not None and prompt_embeds is not None:
            raise ValueError("pass either `prompt` or `prompt_embeds`, not both")
        if negative_prompt is not None and negative_prompt_embeds is not None:
            raise ValueError("pass either `negative_prompt` or `negative_prompt_embeds`, not both")
        for name, value in (("prompt", prompt), ("negative_prompt", negative_prompt)):
            if value is not None and not (
                isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
            ):
                raise ValueError(
                    f"`{name}` must be a string or a list of strings, got {type(value).__name__}"
                )
        if isinstance(prompt, list) and not prompt:
            raise ValueError("`prompt` is an empty list; pass at least one prompt")
        needs_text_encoder = prompt_embeds is None or (
            (self.do_classifier_free_guidance or self.do_text_guidance) and negative_prompt_embeds is None
        )
        if needs_text_encoder and (self.tokenizer is None or self.text_encoder is None):
            raise ValueError(
                "the pipeline has no `tokenizer`/`text_encoder`; load them or pass `prompt_embeds` "
                "(and `negative_prompt_embeds` when guidance_scale or text_guidance_scale > 1)"
            )
        text_dim = self.transformer.config.text_dim
        for name, embeds in (
            ("prompt_embeds", prompt_embeds),
            ("negative_prompt_embeds", negative_prompt_embeds),
        ):
            if embeds is None:
                continue
            if embeds.ndim != 3 or embeds.shape[2] != text_dim or embeds.shape[1] > TEXT_SEQUENCE_LENGTH:
                raise ValueError(
                    f"`{name}` must have shape (batch, tokens <= {TEXT_SEQUENCE_LENGTH}, {text_dim}), "
                    f"got {tuple(embeds.shape)}"
                )
        batch_size = self._batch_size(prompt, prompt_embeds)
        if negative_prompt_embeds is not None and negative_prompt_embeds.shape[0] != batch_size:
            raise ValueError(
                f"`negative_prompt_embeds` has batch {negative_prompt_embeds.shape[0]}, the prompt has {batch_size}"
            )
        if isinstance(negative_prompt, list) and len(negative_prompt) != batch_size:
            raise ValueError(
                f"`negative_prompt` has {len(negative_prompt)} entries; pass one per prompt ({batch_size})"
            )

        # pictures and videos
        check_image(image, "image")
        if ref_pose is not None:
            check_pose_image(ref_pose, "ref_pose")
        if task == "animate" and pose_video is None:
            raise ValueError(
                "task='animate' needs `pose_video`: the driving poses (a PoseSequence) or their rendered frames"
            )
        pose_keypoints = self._ipi_keypoints(pose_video, pose_keypoints, driving_video)
        # ti2v ignores `pose_video` but reads the IPI inputs; any of them may set the frame count.
        lengths = self._frame_counts(pose_video, pose_keypoints, driving_video)
        if len(set(lengths.values())) > 1:
            raise ValueError(
                "`pose_video`, `pose_keypoints` and `driving_video` must have one entry per frame; got "
                + ", ".join(f"{name}: {n}" for name, n in lengths.items())
            )
        available = next(iter(lengths.values()), None)
        if task == "ti2v" and num_frames is None and available is None:
            raise ValueError(
                "task='ti2v' needs `num_frames` (or a `pose_video`, `driving_video` or `pose_keypoints` whose "
                "length sets it)"
            )
        if self._uses("use_pose_indicator"):
            if (driving_video is None) != (pose_keypoints is None):
                raise ValueError(
                    "the Implicit Pose Indicator reads `driving_video` and `pose_keypoints` together; "
                    "pass both, or neither to run without it"
                )
            if driving_video is not None:
                self._check_motion_encoder()
        if num_frames is not None and available is not None and num_frames > available:
            raise ValueError(
                f"`num_frames`={num_frames} asks for more frames than the driving motion has ({available}); "
                f"pass at most {available}"
            )
        if latents is not None and not isinstance(latents, torch.Tensor):
            raise ValueError(f"`latents` must be a tensor, got {type(latents).__name__}")

    def _check_motion_encoder(self) -> None:
        encoder, processor = self.motion_encoder_and_processor
        if encoder is None or processor is None:
            raise ValueError(
                "`driving_video` feeds the Implicit Pose Indicator, which needs a `motion_encoder` (or an "
                "`image_encoder`) and its image processor; the pipeline has none"
            )
        width = getattr(encoder.config, "projection_dim", None)
        expected = self.transformer.config.motion_embed_dim
        if width != expected:
            raise ValueError(
                f"the motion encoder gives {width}-wide `image_embeds` but the transformer expects "
                f"`motion_embed_dim`={expected}; load a matching `motion_encoder`"
            )

    @staticmethod
    def _ipi_keypoints(
        pose_video: PoseVideoInput | None,
        pose_keypoints: KeypointsInput | None,
        driving_video: VideoInput | None,
    ) -> KeypointsInput | None:
        """The IPI's keypoints: as given, else the driving poses themselves when they come as a PoseSequence
        together with the driving video (the IPI reads both)."""
        if pose_keypoints is None and isinstance(pose_video, PoseSequence) and driving_video is not None:
            return pose_video
        return pose_keypoints

    @staticmethod
    def _frame_counts(
        pose_video: PoseVideoInput | None,
        pose_keypoints: KeypointsInput | None,
        driving_video: VideoInput | None,
    ) -> dict[str, int]:
        """Frame count of each per-frame input given."""
        counts = {}
        if pose_video is not None:
            counts["pose_video"] = check_pose_video(pose_video, "pose_video")
        if pose_keypoints is not None:
            counts["pose_keypoints"] = check_keypoints(pose_keypoints, "pose_keypoints")
        if driving_video is not None:
            counts["driving_video"] = check_video(driving_video, "driving_video").num_frames
        return counts

    @staticmethod
    def _batch_size(prompt: str | list[str] | None, prompt_embeds: torch.Tensor | None) -> int:
        if prompt_embeds is not None:
            return prompt_embeds.shape[0]
        return len(prompt) if isinstance(prompt, list) else 1

    def set_timesteps(self, num_inference_steps: int, device: torch.device | str | None = None) -> None:
        """Set the scheduler's steps in the model's `sigma_schedule`. "wan" is the Wan2.1 / DiffSynth sampler the
        official release runs (sigmas `linspace(1, 0, N + 1)[:-1]`, shifted once: 4 steps at shift 5 visit
        1000, 937.5, 833.3, 625); "diffusers" is `FlowMatchEulerDiscreteScheduler`'s own spacing (its sigma range
        shifted, spaced and shifted again: 1000, 910, 717, 24), kept for models trained on it."""
        if self.config.sigma_schedule == "wan":
            sigmas = np.linspace(1.0, 0.0, num_inference_steps + 1)[:-1]
            self.scheduler.set_timesteps(sigmas=sigmas, device=device)
        else:
            self.scheduler.set_timesteps(num_inference_steps, device=device)

    def fit_size(self, height: int | None, width: int | None, reference: FramesInfo) -> tuple[int, int]:
        """The output (height, width): as given, else the reference's aspect ratio at the model's
        `default_max_area` (Wan's "max area" convention; the reference's own size when the model names none),
        rounded down to `size_multiple` with a warning when a given size is not a multiple."""
        h_multiple, w_multiple = self.size_multiple
        area = self.config.get("default_max_area")
        if height is None and width is None and area:
            aspect = reference.height / reference.width
            height = max(h_multiple, round(math.sqrt(area * aspect)) // h_multiple * h_multiple)
            width = max(w_multiple, round(math.sqrt(area / aspect)) // w_multiple * w_multiple)
            return height, width
        height = height or reference.height
        width = width or reference.width
        if height < h_multiple or width < w_multiple:
            raise ValueError(
                f"the output size {width}x{height} (width x height) is too small: both must be at least "
                f"{w_multiple}x{h_multiple} (the VAE and patch strides); pass a larger size"
            )
        fit_height, fit_width = height // h_multiple * h_multiple, width // w_multiple * w_multiple
        if (fit_height, fit_width) != (height, width):
            logger.warning(
                f"`height` and `width` must be multiples of ({h_multiple}, {w_multiple}); "
                f"rounding ({height}, {width}) down to ({fit_height}, {fit_width})."
            )
        if abs((reference.width / reference.height) / (fit_width / fit_height) - 1.0) > 0.02:
            logger.warning(
                f"the reference ({reference.width}x{reference.height}) is stretched to {fit_width}x{fit_height}; "
                "pass a size with the reference's aspect ratio to avoid that"
            )
        return fit_height, fit_width

    def fit_num_frames(self, num_frames: int | None, available: int | None) -> int:
        """Default to the pose video's length; round down to 4k+1 (the VAE's temporal stride) with a warning."""
        num_frames = num_frames or available
        stride = self.vae_scale_factor_temporal
        fit = (num_frames - 1) // stride * stride + 1
        if fit != num_frames:
            logger.warning(
                f"the frame count must be {stride}k+1 (the VAE's temporal stride): using the first {fit} of "
                f"{num_frames} frames"
            )
        return fit

    # ---- 3. text ---------------------------------------------------------------------------------------------
    def _encode_text(self, prompt: list[str], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """(B, 512, text_dim) hidden states, zero past each prompt's last token (as Wan's T5 path)."""
        text_inputs = self.tokenizer(
            [_clean_prompt(p) for p in prompt],
            padding="max_length",
            max_length=TEXT_SEQUENCE_LENGTH,
            truncation=True,
            add_special_tokens=True,
            return_attention_mask=True,
            return_tensors="pt",
        )
        input_ids = text_inputs.input_ids.to(self.text_encoder.device)
        mask = text_inputs.attention_mask.to(self.text_encoder.device)
        hidden_states = self.text_encoder(input_ids=input_ids, attention_mask=mask).last_hidden_state
        hidden_states = hidden_states * mask.unsqueeze(-1).to(hidden_states.dtype)
        return hidden_states.to(device=device, dtype=dtype)

    def encode_prompt(
        self,
        prompt: str | list[str] | None,
        negative_prompt: str | list[str] | None = None,
        do_classifier_free_guidance: bool = True,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Text embeddings (B, 512, text_dim) for the prompt and, with CFG, the negative prompt."""
        device = device or self._execution_device
        dtype = dtype or self.transformer.dtype
        if prompt_embeds is None:
            prompts = [prompt] if isinstance(prompt, str) else prompt or [""]  # no prompt: the empty one
            prompt_embeds = self._encode_text(prompts, device, dtype)
        batch_size = prompt_embeds.shape[0]
        if do_classifier_free_guidance and negative_prompt_embeds is None:
            negative_prompt = negative_prompt or ""
            if isinstance(negative_prompt, str):
                negative_prompt = [negative_prompt] * batch_size
            negative_prompt_embeds = self._encode_text(negative_prompt, device, dtype)
        if not do_classifier_free_guidance:
            negative_prompt_embeds = None

        def pad(embeds: torch.Tensor) -> torch.Tensor:
            missing = TEXT_SEQUENCE_LENGTH - embeds.shape[1]
            return F.pad(embeds, (0, 0, 0, missing)) if missing else embeds

        prompt_embeds = pad(prompt_embeds.to(device=device, dtype=dtype))
        if negative_prompt_embeds is not None:
            negative_prompt_embeds = pad(negative_prompt_embeds.to(device=device, dtype=dtype))
        return prompt_embeds, negative_prompt_embeds

    # ---- 4. image and 5. motion ------------------------------------------------------------------------------
    @staticmethod
    def _encoder_pixels(encoder: Any, processor: Any, images: list[torch.Tensor]) -> torch.Tensor:
        """(N, 3, S, S) pixel values of (3, H, W) pictures in [0, 1], each resized whole to the encoder's S x S
        input (no crop), as the release feeds its CLIP encoders: a centre crop of a portrait or landscape frame
        would cut off the character's head and feet or the sides. Square pictures come out as before."""
        size = encoder.config.image_size
        # Resized here in one batched call (the image processor resizes picture by picture in PIL: 13 s for 117
        # frames of 1280x720 on 2 cores); the processor then only normalises.
        squashed = _resize(torch.stack([image.float() for image in images]), size, size)
        pixel_values = processor(
            images=list(squashed),
            do_rescale=False,
            do_resize=False,
            do_center_crop=False,
            return_tensors="pt",
        ).pixel_values
        return pixel_values.to(device=encoder.device, dtype=encoder.dtype)

    def encode_image(self, image: torch.Tensor, device: torch.device) -> torch.Tensor:
        """CLIP tokens (1, tokens, image_dim) of a (3, H, W) picture in [0, 1]: the penultimate hidden states."""
        pixel_values = self._encoder_pixels(self.image_encoder, self.image_processor, [image])
        hidden_states = self.image_encoder(pixel_values=pixel_values, output_hidden_states=True).hidden_states
        return hidden_states[-2].to(device)

    def zero_image_embeds(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """Zeros shaped like `encode_image`'s output, without running the encoder."""
        config = self.image_encoder.config
        num_tokens = (config.image_size // config.patch_size) ** 2 + 1
        return torch.zeros(batch_size, num_tokens, config.hidden_size, device=device, dtype=dtype)

    def encode_motion(self, driving_video: torch.Tensor, device: torch.device) -> torch.Tensor:
        """Per-frame features (1, F, motion_embed_dim) of a (F, 3, H, W) driving video, for the IPI."""
        encoder, processor = self.motion_encoder_and_processor
        output = encoder(pixel_values=self._encoder_pixels(encoder, processor, list(driving_video)))
        if getattr(output, "image_embeds", None) is None:
            raise ValueError(
                f"the motion encoder ({type(encoder).__name__}) returns no `image_embeds`; use a "
                "CLIPVisionModelWithProjection (or another encoder with projected embeddings)"
            )
        return output.image_embeds.unsqueeze(0).to(device)

    # ---- 6. pose conditions ----------------------------------------------------------------------------------
    def prepare_pose_conditions(
        self,
        pose_video: torch.Tensor | None,
        ref_pose: torch.Tensor | None,
        pose_keypoints: torch.Tensor | None,
        height: int,
        width: int,
        batch_size: int,
        device: torch.device,
        dtype: torch.dtype,
    ) -> dict[str, torch.Tensor | None]:
        """Pose inputs in the transformer's layout; `None` for each module the transformer does not have."""
        given = {"pose_video": pose_video, "ref_pose": ref_pose, "pose_keypoints": pose_keypoints}
        enabled = {
            "pose_video": self._uses("use_pose_guider"),
            "ref_pose": self._uses("use_ref_pose_encoder"),
            "pose_keypoints": self._uses("use_pose_indicator"),
        }
        for name, value in given.items():
            if value is not None and not enabled[name]:
                logger.info(f"`{name}` is ignored: the transformer has no module that reads it.")
        conditions: dict[str, torch.Tensor | None] = dict.fromkeys(given)
        if enabled["pose_video"] and pose_video is not None:
            frames = _resize(pose_video, height, width)  # (F, 3, H, W)
            conditions["pose_video"] = frames.transpose(0, 1).unsqueeze(0)  # (1, 3, F, H, W)
        if enabled["ref_pose"] and ref_pose is not None:
            conditions["ref_pose"] = _resize(ref_pose.unsqueeze(0), height, width)  # (1, 3, H, W)
        if enabled["pose_keypoints"] and pose_keypoints is not None:
            conditions["pose_keypoints"] = pose_keypoints.unsqueeze(0)  # (1, F, 18, 2)
        return {
            name: None
            if value is None
            else value.to(device=device, dtype=dtype).expand(batch_size, *value.shape[1:])
            for name, value in conditions.items()
        }

    # ---- 7. latents and y ------------------------------------------------------------------------------------
    def _latents_mean_std(
        self, device: torch.device, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (1, self.vae.config.z_dim, 1, 1, 1)
        mean = torch.tensor(self.vae.config.latents_mean).view(shape).to(device, dtype)
        std = torch.tensor(self.vae.config.latents_std).view(shape).to(device, dtype)
        return mean, std

    def latent_shape(self, batch_size: int, height: int, width: int, num_frames: int) -> tuple[int, ...]:
        """(B, z, T, h, w) of the VAE latents of `num_frames` = 4k+1 frames of height x width."""
        return (
            batch_size,
            self.vae.config.z_dim,
            (num_frames - 1) // self.vae_scale_factor_temporal + 1,
            height // self.vae_scale_factor_spatial,
            width // self.vae_scale_factor_spatial,
        )

    def prepare_latents(
        self,
        batch_size: int,
        height: int,
        width: int,
        num_frames: int,
        device: torch.device,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The initial noise (B, z, T, h, w) in float32: drawn from `generator`, or the given `latents` checked."""
        shape = self.latent_shape(batch_size, height, width, num_frames)
        if isinstance(generator, list) and len(generator) != batch_size:
            raise ValueError(f"`generator` is a list of {len(generator)}; pass one per video ({batch_size})")
        if latents is None:
            return randn_tensor(shape, generator=generator, device=device, dtype=torch.float32)
        if tuple(latents.shape) != shape:
            raise ValueError(
                f"`latents` must have shape {shape} for these inputs, got {tuple(latents.shape)}"
            )
        return latents.to(device=device, dtype=torch.float32)

    def prepare_condition(
        self,
        reference: torch.Tensor | None,
        batch_size: int,
        height: int,
        width: int,
        num_frames: int,
        device: torch.device,
    ) -> torch.Tensor:
        """The I2V condition `y` (B, 4 + z, T, h, w) in float32; zeros without a reference.

        `reference` is (1 or B, 3, height, width) in [0, 1], one VAE call for all of them. `y` = mask channels
        (1 on the latent frame given as pixels) + VAE latents of [reference, empty frames...], or of the
        reference held still over every frame when the pipeline's `reference_in_every_frame` is set.
        """
        _, z_dim, *grid = self.latent_shape(batch_size, height, width, num_frames)
        if reference is None:
            shape = (batch_size, self.vae_scale_factor_temporal + z_dim, *grid)
            return torch.zeros(shape, device=device, dtype=torch.float32)
        if reference.shape[0] not in (1, batch_size):
            raise ValueError(f"`reference` holds {reference.shape[0]} pictures; pass 1 or {batch_size}")
        frames = torch.stack([self.condition_frames(image, num_frames) for image in reference])
        condition = self.condition_from_latents(self.encode_video(frames).to(device), num_frames)
        return condition.expand(batch_size, *condition.shape[1:])

    def condition_frames(self, reference: torch.Tensor, num_frames: int) -> torch.Tensor:
        """The (F, 3, H, W) pixel frames in [0, 1] whose VAE latents are the latent part of `y`."""
        if self.config.reference_in_every_frame:
            return reference.unsqueeze(0).expand(num_frames, -1, -1, -1)
        # The reference followed by empty frames: Wan's zeros in the VAE's [-1, 1] input range, i.e. mid-grey
        # 0.5 in [0, 1].
        frames = torch.full(
            (num_frames, *reference.shape), 0.5, device=reference.device, dtype=reference.dtype
        )
        frames[0] = reference
        return frames

    def condition_from_latents(
        self, latent_condition: torch.Tensor, num_frames: int, given_frames: int = 1
    ) -> torch.Tensor:
        """`y` (B, 4 + z, T, h, w): the mask channels (1 on the first `given_frames` pixel frames: the reference,
        or the frames a chained window carries over) before the latents (B, z, T, h, w)."""
        batch_size, _, num_latent_frames, latent_height, latent_width = latent_condition.shape
        stride = self.vae_scale_factor_temporal
        # Mask over pixel frames, the first repeated `stride` times so the frames fold into `stride` channels per
        # latent frame.
        mask = torch.zeros(1, 1, num_frames, latent_height, latent_width, device=latent_condition.device)
        mask[:, :, :given_frames] = 1.0
        mask = torch.cat([mask[:, :, :1].repeat_interleave(stride, dim=2), mask[:, :, 1:]], dim=2)
        mask = mask.view(1, num_latent_frames, stride, latent_height, latent_width).transpose(1, 2)
        mask = mask.expand(batch_size, -1, -1, -1, -1).to(latent_condition.dtype)
        return torch.cat([mask, latent_condition], dim=1)

    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        """Normalised VAE latents (B, z, T, h, w) of a (F, 3, H, W) video (B = 1) or a (B, F, 3, H, W) batch of
        videos in [0, 1] (the posterior mode).

        The one place pixels become latents: the condition `y` here and the training targets use it alike.
        """
        if video.ndim == 4:
            video = video.unsqueeze(0)
        pixels = (video * 2.0 - 1.0).transpose(1, 2)  # (B, 3, F, H, W) in [-1, 1]
        latents = self.vae.encode(pixels.to(device=self.vae.device, dtype=self.vae.dtype)).latent_dist.mode()
        mean, std = self._latents_mean_std(latents.device, torch.float32)
        return (latents.float() - mean) / std

    # ---- 10. decode ------------------------------------------------------------------------------------------
    def decode_latents(self, latents: torch.Tensor, output_type: str) -> Any:
        """Denormalise, VAE-decode and convert to `output_type`."""
        return self.video_processor.postprocess_video(self.decode_video(latents), output_type=output_type)

    def decode_video(self, latents: torch.Tensor) -> torch.Tensor:
        """Denormalise and VAE-decode normalised latents to pixels (B, 3, F, H, W) in [-1, 1]."""
        mean, std = self._latents_mean_std(self.vae.device, self.vae.dtype)
        latents = latents.to(device=self.vae.device, dtype=self.vae.dtype) * std + mean
        return self.vae.decode(latents, return_dict=False)[0]

    def _predict(
        self,
        branch: str,
        hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        text: torch.Tensor,
        inputs: dict,
    ) -> torch.Tensor:
        """One guidance branch's velocity: the transformer on the step's input with this branch's conditions."""
        with self.transformer.cache_context(branch):
            return self.transformer(
                hidden_states=hidden_states, timestep=timestep, encoder_hidden_states=text, return_dict=False,
                **inputs,
            )[0]  # fmt: skip

    @torch.no_grad()
    def decode_video_chunks(self, latents: torch.Tensor, chunk: int) -> Iterator[torch.Tensor]:
        """`decode_video` in pieces of `chunk` latent frames, yielded as decoded, exactly equal to one call.

        The Wan VAE decodes latent frame by latent frame, carrying its causal convolutions' state in its cache;
        this runs that same loop and yields every `chunk` frames instead of keeping the whole video. A VAE
        with tiling on (or another VAE) decodes windows of `chunk` the whole video at once.
        """
        vae = self.vae
        if not isinstance(vae, AutoencoderKLWan) or vae.use_tiling or not hasattr(vae, "clear_cache"):
            video = self.decode_video(latents)
            for start in range(0, video.shape[2], chunk * self.vae_scale_factor_temporal):
                yield video[:, :, start : start + chunk * self.vae_scale_factor_temporal]
            return
        mean, std = self._latents_mean_std(vae.device, vae.dtype)
        vae.clear_cache()
        try:
            for start in range(0, latents.shape[2], chunk):
                part = (
                    latents[:, :, start : start + chunk].to(device=vae.device, dtype=vae.dtype) * std + mean
                )
                part = vae.post_quant_conv(part)
                pieces = []
                for i in range(part.shape[2]):
                    vae._conv_idx = [0]
                    pieces.append(
                        vae.decoder(
                            part[:, :, i : i + 1],
                            feat_cache=vae._feat_map,
                            feat_idx=vae._conv_idx,
                            first_chunk=start + i == 0,
                        )  # fmt: skip
                    )
                out = torch.cat(pieces, 2)
                if vae.config.patch_size is not None:
                    out = unpatchify(out, patch_size=vae.config.patch_size)
                yield out.clamp(-1.0, 1.0)
        finally:
            vae.clear_cache()

    def _guided_velocity(
        self,
        latent_model_input: torch.Tensor,
        t: torch.Tensor,
        prompt_embeds: torch.Tensor,
        negative_prompt_embeds: torch.Tensor | None,
        cond_inputs: dict,
        uncond_inputs: dict,
        window: str = "",
    ) -> torch.Tensor:
        """The step's velocity with every guidance branch the call asked for combined. `window` names the
        context window, so a step cache keeps one state per window and branch (`cache_context`)."""
        branches = [("cond", prompt_embeds, cond_inputs)]
        if self.do_classifier_free_guidance:
            branches.append(("uncond", negative_prompt_embeds, uncond_inputs))
        if self.do_text_guidance:
            branches.append(("no_text", negative_prompt_embeds, cond_inputs))
        if getattr(self, "_batch_guidance", False) and len(branches) > 1:
            predictions = self._predict_batched(branches, latent_model_input, t, window)
        else:
            step_input = (latent_model_input, t.expand(latent_model_input.shape[0]))
            predictions = [
                self._predict(name + window, *step_input, text, inputs) for name, text, inputs in branches
            ]
        noise_cond = noise_pred = predictions[0]
        if self.do_classifier_free_guidance:
            noise_uncond = predictions[1]
            noise_pred = noise_uncond + self.guidance_scale * (noise_cond - noise_uncond)
        if self.do_text_guidance:
            noise_no_text = predictions[-1]
            noise_pred = noise_pred + (self.text_guidance_scale - 1) * (noise_cond - noise_no_text)
        return noise_pred

    def _predict_batched(
        self,
        branches: list[tuple[str, torch.Tensor, dict]],
        latent_model_input: torch.Tensor,
        t: torch.Tensor,
        window: str,
    ) -> list[torch.Tensor]:
        """Every branch's velocity from one transformer forward over the branches' inputs stacked on the batch.
        A step cache sees the stack as one call (one `cache_context`, e.g. "cond+uncond"): its skip decision
        then covers every branch at once."""
        count = len(branches)
        image_embeds = [inputs["encoder_hidden_states_image"] for _, _, inputs in branches]
        inputs = {
            "encoder_hidden_states_image": None if image_embeds[0] is None else torch.cat(image_embeds),
            "pose_features": AnimateXPoseFeatures.cat([inputs["pose_features"] for _, _, inputs in branches]),
        }
        hidden_states = latent_model_input.repeat(count, *[1] * (latent_model_input.ndim - 1))
        name = "+".join(name for name, _, _ in branches) + window
        text = torch.cat([text for _, text, _ in branches])
        prediction = self._predict(name, hidden_states, t.expand(hidden_states.shape[0]), text, inputs)
        return list(prediction.chunk(count))

    def guidance_batched(
        self,
        batch_guidance: bool | None,
        batch_size: int,
        height: int,
        width: int,
        num_frames: int,
        device: torch.device,
    ) -> bool:
        """Whether this call's guidance branches run as one batched forward. `batch_guidance` None decides by
        memory: batched, except on a CUDA device whose free memory cannot hold the extra branches' activations
        (`plan.transformer_activation_bytes`) plus the transformer weights not yet on it (offloaded)."""
        if batch_guidance is not None and not isinstance(batch_guidance, bool):
            raise ValueError(f"`batch_guidance` must be True, False or None, got {batch_guidance!r}")
        branches = 1 + self.do_classifier_free_guidance + self.do_text_guidance
        if branches == 1 or batch_guidance is not None:
            return bool(batch_guidance) and branches > 1
        if device.type != "cuda":
            return True
        from animatex.pipelines.plan import Workload, transformer_activation_bytes

        config = dict(self.transformer.config)
        work = Workload(width=width, height=height, num_frames=num_frames)
        extra = (
            (branches - 1)
            * batch_size
            * transformer_activation_bytes(config, work, self.transformer.dtype.itemsize)
        )
        pending = sum(
            p.numel() * p.element_size() for p in self.transformer.parameters() if p.device != device
        )
        free, _ = torch.cuda.mem_get_info(device)
        return extra + pending < 0.9 * free

    def _window_inputs(
        self,
        indices: list[int],
        uses: frozenset[str],
        pose_video: Any,
        pose_keypoints: Any,
        driving_video: Any,
        ref_pose: Any,
        image_embeds: torch.Tensor | None,
        height: int,
        width: int,
        batch_size: int,
        device: torch.device,
        dtype: torch.dtype,
    ) -> tuple[dict, dict]:
        """Steps 5, 6 and 8 for the frames at `indices`: the IPI's motion features, the pose conditions and the
        transformer inputs of the positive and negative CFG branches. The pose modules never see the timestep
        or the latents: their features are computed once per window, not at every step."""
        # 5. Encode motion (per-frame features of the driving video, for the IPI)
        motion_embeds = None
        if "motion_embeds" in uses and driving_video is not None:
            if self._uses("use_pose_indicator"):
                motion = self.encode_motion(video_to_tensor(take_frames(driving_video, indices)), device)
                motion_embeds = motion.to(dtype).expand(batch_size, -1, -1)
            else:
                logger.info("`driving_video` is ignored: the transformer has no Implicit Pose Indicator.")

        # 6. Prepare pose conditions
        pose_conditions = dict.fromkeys(POSE_CONDITIONS)
        if uses.intersection(POSE_CONDITIONS):
            if isinstance(ref_pose, PoseSequence):
                ref_pose = pose_video_to_tensor(ref_pose, height, width)[0]
            pose_conditions = self.prepare_pose_conditions(
                pose_video=pose_video_to_tensor(take_frames(pose_video, indices), height, width)
                if "pose_video" in uses and pose_video is not None
                else None,
                ref_pose=image_to_tensor(ref_pose) if ref_pose is not None else None,
                pose_keypoints=(
                    keypoints_to_tensor(take_frames(pose_keypoints, indices)) if pose_keypoints is not None else None
                ),
                height=height, width=width, batch_size=batch_size, device=device, dtype=dtype,
            )  # fmt: skip
            pose_conditions = {
                name: value if name in uses else None for name, value in pose_conditions.items()
            }

        # 8. Transformer inputs per CFG branch
        pose_features = self.transformer.encode_pose_conditions(
            **pose_conditions, motion_embeds=motion_embeds
        )
        cond_inputs = {"encoder_hidden_states_image": image_embeds, "pose_features": pose_features}
        uncond_inputs = {
            **cond_inputs,
            "pose_features": replace(pose_features, **dict.fromkeys(UNCOND_DROPPED)),
        }
        return cond_inputs, uncond_inputs

    # ---- long videos: windows ----------------------------------------------------------------------------------
    def window_settings(self, windows: WindowSettings | None = None) -> WindowSettings:
        """`windows` with every field left None filled from the config, checked; strategy "none" without a
        native window length in the config."""
        windows = windows or WindowSettings()
        frames = windows.frames or self.config.get("default_window_frames")
        strategy = windows.strategy or self.config.get("default_window_strategy") or "chain"
        if frames is None:
            if windows.strategy not in (None, "none"):
                raise ValueError(
                    f"window strategy {windows.strategy!r} needs a window length: pass `WindowSettings(frames=...)`"
                    " (the model's native clip length, e.g. 81 for Wan2.1)"
                )
            strategy = "none"
        overlap = windows.overlap
        if overlap is None:
            overlap = default_overlap(strategy, frames, self.vae_scale_factor_temporal) if frames else 0
        check_settings(strategy, frames, overlap, self.vae_scale_factor_temporal)
        if windows.carry_noise < 0:
            raise ValueError(f"`carry_noise` must be >= 0, got {windows.carry_noise!r}")
        return replace(windows, strategy=strategy, frames=frames, overlap=overlap)

    def runs_in_windows(self, settings: WindowSettings, num_frames: int) -> bool:
        """Whether `num_frames` frames run in windows: longer than one, or not 4k+1 (windows pad and cut)."""
        stride = self.vae_scale_factor_temporal
        return settings.strategy != "none" and (
            num_frames > settings.frames or num_frames != round_up_frames(num_frames, stride)
        )

    def chain_condition(
        self,
        reference: torch.Tensor | None,
        carried: torch.Tensor,
        num_frames: int,
        carry_noise: float,
        generator: torch.Generator | list[torch.Generator] | None,
        device: torch.device,
    ) -> torch.Tensor:
        """`y` of a chained window: its first frames are `carried` (B, k, 3, H, W) in [0, 1], the last frames the
        previous window generated, marked as given; the rest is what `prepare_condition` puts there."""
        batch_size, given = carried.shape[:2]
        frames = self.condition_frames(reference[0], num_frames) if reference is not None else None
        if frames is None:  # ti2v: nothing but the carried frames, on mid-grey
            frames = torch.full((num_frames, *carried.shape[2:]), 0.5, dtype=carried.dtype)
        frames = frames.to(carried).unsqueeze(0).repeat(batch_size, 1, 1, 1, 1)
        frames[:, :given] = carried
        latents = self.encode_video(frames).to(device)
        if carry_noise > 0:
            given_latents = (given - 1) // self.vae_scale_factor_temporal + 1
            shape = (batch_size, latents.shape[1], given_latents, *latents.shape[3:])
            noise = randn_tensor(shape, generator=generator, device=device, dtype=latents.dtype)
            latents[:, :, :given_latents] += carry_noise * noise
        return self.condition_from_latents(latents, num_frames, given_frames=given)

    def _call_windowed(
        self,
        settings: WindowSettings,
        reference: torch.Tensor,
        pose_video: Any,
        pose_keypoints: Any,
        driving_video: Any,
        ref_pose: Any,
        uses: frozenset[str],
        image_embeds: torch.Tensor | None,
        prompt_embeds: torch.Tensor,
        negative_prompt_embeds: torch.Tensor | None,
        height: int,
        width: int,
        num_frames: int,
        num_inference_steps: int,
        generator: torch.Generator | list[torch.Generator] | None,
        output_type: str,
        return_dict: bool,
        callback_on_step_end: Callable | None,
        batch_size: int,
        device: torch.device,
        dtype: torch.dtype,
        on_frames: Callable[[Any], None] | None,
    ) -> AnimateXPipelineOutput | tuple:
        """Steps 5-10 window by window (`settings.strategy` "chain" or "context"); frames past `num_frames`
        (the last window's padding, its poses held on the last frame) are cut."""
        reference = _resize(reference.unsqueeze(0), height, width) if "y" in uses else None
        common = dict(
            uses=uses, pose_video=pose_video, pose_keypoints=pose_keypoints, driving_video=driving_video,
            ref_pose=ref_pose, image_embeds=image_embeds, height=height, width=width, batch_size=batch_size,
            device=device, dtype=dtype,
        )  # fmt: skip
        texts = (prompt_embeds, negative_prompt_embeds)
        chunks = []

        def emit(video: torch.Tensor) -> None:
            frames = self.video_processor.postprocess_video(video, output_type=output_type)
            chunks.append(frames) if on_frames is None else on_frames(frames)

        run = self._run_chain if settings.strategy == "chain" else self._run_context
        run(settings, reference, common, texts, num_frames, num_inference_steps, generator, callback_on_step_end,
            emit)  # fmt: skip
        self._current_timestep = None
        self.maybe_free_model_hooks()
        video = _concat_frames(chunks) if chunks else None
        if not return_dict:
            return (video,)
        return AnimateXPipelineOutput(frames=video)

    def _denoise(
        self,
        latents: torch.Tensor,
        step_velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        num_inference_steps: int,
        device: torch.device,
        callback_on_step_end: Callable | None,
        progress_bar: Any,
        texts: tuple,
        generator: torch.Generator | list[torch.Generator] | None = None,
    ) -> torch.Tensor:
        """The sampler loop over `latents` with `step_velocity(latents, t)` giving each step's velocity
        (`generator` seeds a scheduler that re-noises, e.g. `stochastic_sampling`)."""
        self.set_timesteps(num_inference_steps, device)
        self._num_timesteps = len(self.scheduler.timesteps)
        for i, t in enumerate(self.scheduler.timesteps):
            if self.interrupt:
                continue
            self._current_timestep = t
            velocity = step_velocity(latents, t).float()
            latents = self.scheduler.step(velocity, t, latents, generator=generator, return_dict=False)[0]
            if callback_on_step_end is not None:
                tensors = {"latents": latents, "prompt_embeds": texts[0], "negative_prompt_embeds": texts[1]}
                latents = (callback_on_step_end(self, i, t, tensors) or {}).get("latents", latents)
        return latents

    def _run_chain(
        self, settings, reference, common, texts, num_frames, num_inference_steps, generator, callback, emit
    ) -> None:
        """Segment chaining: window after window, each conditioned on the previous one's last frames."""
        carried_count = settings.overlap
        plan = chain_windows(num_frames, settings.frames, carried_count)
        batch_size, height, width, device = (
            common["batch_size"],
            common["height"],
            common["width"],
            common["device"],
        )
        carried = None  # (B, k, 3, H, W) in [0, 1]
        held = None  # the previous window's last k frames (B, 3, k, H, W), kept back to crossfade
        with self.progress_bar(total=len(plan) * num_inference_steps) as progress_bar:
            for index, (start, end) in enumerate(plan):
                length = end - start
                indices = [min(i, num_frames - 1) for i in range(start, end)]
                cond_inputs, uncond_inputs = self._window_inputs(indices, **common)
                if carried is None:
                    condition = self.prepare_condition(reference, batch_size, height, width, length, device)
                else:
                    condition = self.chain_condition(
                        reference, carried, length, settings.carry_noise, generator, device
                    )
                condition = condition.to(common["dtype"])

                def velocity(
                    latents: torch.Tensor,
                    t: torch.Tensor,
                    condition=condition,
                    inputs=(cond_inputs, uncond_inputs),
                ):
                    model_input = torch.cat([latents.to(common["dtype"]), condition], dim=1)
                    return self._guided_velocity(model_input, t, *texts, *inputs)

                if hasattr(
                    self.transformer, "_reset_stateful_cache"
                ):  # a step cache starts afresh each window
                    self.transformer._reset_stateful_cache()
                latents = self.prepare_latents(batch_size, height, width, length, device, generator)
                latents = self._denoise(
                    latents, _counting(velocity, progress_bar), num_inference_steps, device, callback, progress_bar,
                    texts, generator,
                )  # fmt: skip
                video = self.decode_video(latents).float()  # (B, 3, F, H, W) in [-1, 1]
                if carried is not None and settings.colour_match:
                    previous = carried.transpose(1, 2) * 2.0 - 1.0
                    video = match_colours(video, video[:, :, :carried_count], previous).clamp(-1.0, 1.0)
                if carried is not None and settings.crossfade:
                    video[:, :, :carried_count] = crossfade(held, video[:, :, :carried_count])
                carried = ((video[:, :, -carried_count:] + 1.0) / 2.0).transpose(1, 2)
                # The frames shared with the previous window were written by it, unless held back to crossfade.
                first = 0 if index == 0 or settings.crossfade else carried_count
                last = min(end, num_frames) - start
                if settings.crossfade and index < len(plan) - 1:
                    held, last = video[:, :, -carried_count:], length - carried_count
                emit(video[:, :, first:last])

    def _run_context(
        self, settings, reference, common, texts, num_frames, num_inference_steps, generator, callback, emit
    ) -> None:
        """Latent context windows: every step denoises overlapping windows of the whole latent video and blends
        their velocities; decoded in chunks of one window."""
        stride = self.vae_scale_factor_temporal
        batch_size, height, width, device = (
            common["batch_size"],
            common["height"],
            common["width"],
            common["device"],
        )
        total = round_up_frames(num_frames, stride)
        latents = self.prepare_latents(batch_size, height, width, total, device, generator)
        num_latent = latents.shape[2]
        window, overlap = (settings.frames - 1) // stride + 1, settings.overlap // stride
        plan = context_windows(num_latent, window, overlap)
        weights = blend_weights(plan, num_latent, overlap)
        inputs, conditions = [], {}
        for start, end in plan:
            first = start * stride  # a window's first latent frame stands for its first pixel frame
            indices = [min(i, num_frames - 1) for i in range(first, first + (end - start - 1) * stride + 1)]
            inputs.append(self._window_inputs(indices, **common))
            if len(indices) not in conditions:  # every window is conditioned on the reference alone
                conditions[len(indices)] = self.prepare_condition(
                    reference, batch_size, height, width, len(indices), device
                ).to(common["dtype"])

        def velocity(latents: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            blended = torch.zeros_like(latents)
            for index, ((start, end), weight, branch_inputs) in enumerate(
                zip(plan, weights, inputs, strict=True)
            ):
                condition = conditions[(end - start - 1) * stride + 1]
                model_input = torch.cat([latents[:, :, start:end].to(common["dtype"]), condition], dim=1)
                prediction = self._guided_velocity(
                    model_input, t, *texts, *branch_inputs, f"@{index}"
                ).float()
                blended[:, :, start:end] += prediction * weight.to(device).view(1, 1, -1, 1, 1)
                progress_bar.update()
            return blended

        with self.progress_bar(total=len(plan) * num_inference_steps) as progress_bar:
            latents = self._denoise(
                latents, velocity, num_inference_steps, device, callback, progress_bar, texts, generator
            )
        written = 0
        for video in self.decode_video_chunks(latents, window):
            video = video.float()[:, :, : num_frames - written]
            written += video.shape[2]
            emit(video)

    # ---- call ------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(
        self,
        image: ImageInput,
        pose_video: VideoInput | None = None,
        pose_keypoints: KeypointsInput | None = None,
        driving_video: VideoInput | None = None,
        prompt: str | list[str] | None = None,
        negative_prompt: str | list[str] | None = None,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        height: int | None = None,
        width: int | None = None,
        num_frames: int | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        text_guidance_scale: float | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        callback_on_step_end: Callable[[DiffusionPipeline, int, torch.Tensor, dict], dict] | None = None,
        task: str = "animate",
        ref_pose: ImageInput | None = None,
        latents: torch.Tensor | None = None,
        windows: WindowSettings | None = None,
        on_frames: Callable[[Any], None] | None = None,
        batch_guidance: bool | None = None,
    ) -> AnimateXPipelineOutput | tuple:
        """Generate a video.

        Args:
            image: The reference character: a PIL image, a uint8 array (H, W, 3) or a tensor (3, H, W) in [0, 1].
            pose_video: Rendered driving skeleton frames: a list of PIL images, a uint8 array (F, H, W, 3) or a
                tensor (F, 3, H, W) in [0, 1]. Its length sets the default `num_frames`.
            pose_keypoints: Body keypoints of the driving video for the IPI: (F, 18, 2) normalised to [0, 1],
                -1 for invisible points, or a `PoseSequence`.
            driving_video: The driving video itself (same forms as `pose_video`), encoded per frame for the IPI.
            prompt / negative_prompt: Text; the negative prompt only acts when `guidance_scale > 1`.
            prompt_embeds / negative_prompt_embeds: Precomputed text embeddings (B, tokens, text_dim).
            height / width: Output size; default the reference's size. Rounded down to multiples of
                `size_multiple` (16 for Wan) with a warning.
            num_frames: Default the length of `pose_video`; at most that. In one window rounded down to 4k+1 with a
                warning; in windows (`windows`) exactly that many.
            num_inference_steps: Denoising steps; default `config.default_num_inference_steps`.
            guidance_scale: CFG scale; the negative branch drops only the driving-pose tokens. <= 1 disables it.
                Default `config.default_guidance_scale`.
            text_guidance_scale: Guidance on the prompt alone (ours): one more branch keeps every image and
                pose condition and takes the negative prompt, and `(scale - 1) * (cond - that)` is added, so the
                text's effect (what the background does) grows without the pose's overshoot. <= 1 disables it.
                Default `config.default_text_guidance_scale`.
            generator: Seeds the initial noise.
            output_type: "np" (B, F, H, W, 3) float in [0, 1], "pil", "pt" (B, F, 3, H, W) or "latent".
            callback_on_step_end: `fn(pipe, step, timestep, tensors) -> dict` after each step; `tensors` holds
                `_callback_tensor_inputs`, and returned entries replace them.
            task: "animate" (pose-driven) or "ti2v" (text drives the video; as the release's `is_i2v`, the
                pose video, reference pose, reference image and CLIP tokens are left out, but the IPI still reads
                `pose_keypoints` and `driving_video` when given).
            ref_pose: Rendered pose of the reference picture, for the reference-pose encoder.
            latents: Initial noise (B, z_dim, latent_frames, H / 8, W / 8) instead of sampling it.
            windows: How a video longer than the model's native length (`config.default_window_frames`) is cut
                into windows (`WindowSettings`; fields left None take the config's defaults). In windows the
                output has exactly `num_frames` frames (no 4k+1 rounding). A video of 4k+1 frames that fits in
                one window runs exactly as without windows.
            on_frames: Called with each window's decoded frames (in `output_type`, frames on axis 1) as soon
                as they are ready (a one-window call: once, with all of them), to write them as they come; the
                call's own output then holds no frames (`frames=None`), so memory does not grow with the video.
            batch_guidance: Run the guidance branches (CFG, text guidance) as one transformer forward over a
                batch of 2 or 3 instead of one forward each: the same result (within float rounding), faster, with
                the activations of every branch alive at once. None: batched unless a CUDA device lacks the
                free memory for it (`guidance_batched`).
        """
        if num_inference_steps is None:
            num_inference_steps = self.config.default_num_inference_steps
        if guidance_scale is None:
            guidance_scale = self.config.default_guidance_scale
        if text_guidance_scale is None:
            text_guidance_scale = self.config.get("default_text_guidance_scale", 1.0)
        self._guidance_scale = guidance_scale
        self._text_guidance_scale = text_guidance_scale
        self._current_timestep = None
        self._interrupt = False

        # 1. Check inputs
        self.check_inputs(
            image, pose_video, pose_keypoints, driving_video, ref_pose, prompt, negative_prompt, prompt_embeds,
            negative_prompt_embeds, height, width, num_frames, num_inference_steps, output_type, task, latents,
        )  # fmt: skip

        # 2. Define call parameters
        device = self._execution_device
        dtype = self.transformer.dtype
        uses = TASK_CONDITIONS[task]
        batch_size = self._batch_size(prompt, prompt_embeds)
        height, width = self.fit_size(height, width, check_image(image, "image"))
        pose_keypoints = self._ipi_keypoints(pose_video, pose_keypoints, driving_video)
        available = next(iter(self._frame_counts(pose_video, pose_keypoints, driving_video).values()), None)
        settings = self.window_settings(windows)
        requested = num_frames or available
        windowed = self.runs_in_windows(settings, requested)
        if windowed and output_type == "latent":
            raise ValueError("`output_type='latent'` needs one window: pass `windows=WindowSettings('none')`")
        num_frames = requested if windowed else self.fit_num_frames(num_frames, available)
        reference = image_to_tensor(image)
        self._batch_guidance = self.guidance_batched(
            batch_guidance, batch_size, height, width, settings.frames if windowed else num_frames, device
        )
        branches = 1 if self._batch_guidance else 1 + self.do_classifier_free_guidance + self.do_text_guidance
        check_one_call_per_step(self.transformer, branches, windowed and settings.strategy == "context")

        # 3. Encode input prompt
        prompt_embeds, negative_prompt_embeds = self.encode_prompt(
            prompt, negative_prompt, self.do_classifier_free_guidance or self.do_text_guidance, prompt_embeds,
            negative_prompt_embeds, device=device, dtype=dtype,
        )  # fmt: skip

        # 4. Encode image (CLIP tokens)
        image_embeds = None
        if self.transformer.config.image_dim is not None:
            if "image_embeds" in uses:
                image_embeds = self.encode_image(reference, device).to(dtype).expand(batch_size, -1, -1)
            else:
                image_embeds = self.zero_image_embeds(batch_size, device, dtype)

        if windowed:
            return self._call_windowed(
                settings, reference, pose_video, pose_keypoints, driving_video, ref_pose, uses, image_embeds,
                prompt_embeds, negative_prompt_embeds, height, width, num_frames, num_inference_steps, generator,
                output_type, return_dict, callback_on_step_end, batch_size, device, dtype, on_frames,
            )  # fmt: skip

        # 5, 6 and 8. Motion features, pose conditions and the transformer inputs per CFG branch
        cond_inputs, uncond_inputs = self._window_inputs(
            list(range(num_frames)), uses, pose_video, pose_keypoints, driving_video, ref_pose, image_embeds,
            height, width, batch_size, device, dtype,
        )  # fmt: skip

        # 7. Prepare timesteps, latents and the condition `y`
        self.set_timesteps(num_inference_steps, device)
        timesteps = self.scheduler.timesteps
        latents = self.prepare_latents(batch_size, height, width, num_frames, device, generator, latents)
        condition = self.prepare_condition(
            _resize(reference.unsqueeze(0), height, width) if "y" in uses else None,
            batch_size, height, width, num_frames, device,
        )  # fmt: skip

        # 9. Denoising loop
        self._num_timesteps = len(timesteps)
        condition = condition.to(dtype)
        with self.progress_bar(total=num_inference_steps) as progress_bar:
            for i, t in enumerate(timesteps):
                if self.interrupt:
                    continue
                self._current_timestep = t
                latent_model_input = torch.cat([latents.to(dtype), condition], dim=1)
                noise_pred = self._guided_velocity(
                    latent_model_input, t, prompt_embeds, negative_prompt_embeds, cond_inputs, uncond_inputs
                )

                latents = self.scheduler.step(
                    noise_pred.float(), t, latents, generator=generator, return_dict=False
                )[0]

                if callback_on_step_end is not None:
                    tensors = {
                        "latents": latents,
                        "prompt_embeds": prompt_embeds,
                        "negative_prompt_embeds": negative_prompt_embeds,
                    }
                    outputs = callback_on_step_end(self, i, t, tensors) or {}
                    latents = outputs.pop("latents", latents)
                    prompt_embeds = outputs.pop("prompt_embeds", prompt_embeds)
                    negative_prompt_embeds = outputs.pop("negative_prompt_embeds", negative_prompt_embeds)
                progress_bar.update()
        self._current_timestep = None

        # 10. Decode
        video = latents if output_type == "latent" else self.decode_latents(latents, output_type)
        self.maybe_free_model_hooks()
        if on_frames is not None:
            on_frames(video)
            video = None
        if not return_dict:
            return (video,)
        return AnimateXPipelineOutput(frames=video)
