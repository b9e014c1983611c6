"""The gradio Blocks app: widgets wired to `Studio` (which does the work with the library's functions).

Import this only after `animatex.ui.configure_environment` (gradio reads its cache folder and analytics
switch from the environment).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import gradio as gr

from animatex.animate import ALIGN_MODES
from animatex.errors import AnimatexError
from animatex.io import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from animatex.ui.studio import (
    BACKGROUND_PRESETS,
    CACHE_CHOICES,
    MODEL_DEFAULT,
    POSE_SUFFIX,
    WINDOW_CHOICES,
    Example,
    Inputs,
    Studio,
    collect_notes,
)

logger = logging.getLogger("animatex.ui")

TITLE = "animatex: character animation"
# Slightly larger result videos; small pictures scale up instead of sitting tiny in a big box.
CSS = """
.animatex-media img, .animatex-media video { image-rendering: pixelated; }
#animate-button { font-size: 1.1em; }
"""
INTRO = """\
# animatex: universal character animation
Animate the character in a **reference picture** with the motion of a **driving video** (its poses are detected)
or of a **pose file** (`.npz`, from `animatex pose extract`). Check the **pose preview** (the driving skeleton and
that skeleton retargeted onto your character) before you press **Animate**. One animation runs at a time;
others wait in a queue and see their place in it.
"""


def _upload_cache() -> str:
    from gradio.utils import get_upload_folder

    return str(Path(get_upload_folder()).resolve())


def _readable(message: str) -> str:
    """The message without the upload cache's folders: `<cache>/<hash>/clip.mp4` -> `clip.mp4`."""
    return re.sub(re.escape(_upload_cache()) + r"/[^/\s]+/", "", message)


def _shown(path: Path) -> str:
    """`path` relative to the working folder when it is inside it (shorter, and no home folder on screen)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _shows_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run `fn`; its notes become warning toasts and any error one readable line in the page, never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with collect_notes() as notes:
                result = fn(*args, **kwargs)
        except gr.Error:
            raise
        except (AnimatexError, ValueError, FileNotFoundError) as error:
            raise gr.Error(_readable(str(error)), title="Cannot do that", print_exception=False) from None
        except Exception as error:  # a bug, not bad input: the log keeps the traceback, the page a summary
            logger.exception("animatex ui: %s failed", fn.__name__)
            raise gr.Error(
                f"internal error ({type(error).__name__}: {_readable(str(error))}); the server log has the details",
                print_exception=False,
            ) from None
        for note in notes:
            gr.Warning(_readable(note), title="Note")
        return result

    return wrapper


def build_app(studio: Studio, examples: list[Example], *, model_label: str) -> gr.Blocks:
    """The whole page; `studio` does the work, `examples` fill the inputs with one click."""
    config = studio.pipe.config
    default_steps = int(config.default_num_inference_steps)
    default_guidance = float(config.default_guidance_scale)
    default_text_guidance = float(config.get("default_text_guidance_scale", 1.0))
    video_types = sorted({*VIDEO_SUFFIXES, POSE_SUFFIX})
    limits = studio.limits

    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        gr.Markdown(INTRO)
        gr.Markdown(
            f"Model: `{model_label}` on `{studio.pipe.device}`, memory mode `{studio.memory}` (set when the app "
            f"starts: `animatex ui --memory`) · uploads up to {limits.max_file_mb:g} MB, "
            f"{limits.max_frames} frames · outputs in `{_shown(studio.out_dir)}`",
            elem_id="model-info",
        )
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=280):
                gr.Markdown("### 1. Character")
                reference = gr.File(
                    label="Reference picture",
                    file_types=list(IMAGE_SUFFIXES),
                    elem_id="reference-input",
                    height=120,
                )
                reference_view = gr.Image(
                    label="Reference + detected skeleton", interactive=False, format="png", height=300,
                    elem_id="reference-view", elem_classes=["animatex-media"],
                )  # fmt: skip
                with gr.Accordion("Reference pose file (optional)", open=False):
                    reference_pose = gr.File(
                        label="Reference pose (.npz): used instead of detecting one (cartoon characters)",
                        file_types=[POSE_SUFFIX], elem_id="reference-pose-input", height=100,
                    )  # fmt: skip
            with gr.Column(scale=1, min_width=280):
                gr.Markdown("### 2. Motion")
                driving = gr.File(
                    label="Driving video or pose file (.npz)", file_types=video_types, elem_id="driving-input",
                    height=120,
                )  # fmt: skip
                with gr.Accordion("Driving pose file (optional)", open=False):
                    driving_poses = gr.File(
                        label="Driving poses (.npz): used instead of detecting them in the video",
                        file_types=[POSE_SUFFIX], elem_id="driving-poses-input", height=100,
                    )  # fmt: skip
                preview = gr.Video(
                    label="Pose preview: driving | retargeted onto the reference", autoplay=True, loop=True,
                    interactive=False, height=300, elem_id="pose-preview", elem_classes=["animatex-media"],
                )  # fmt: skip
                preview_button = gr.Button("Preview poses", elem_id="preview-button")
            with gr.Column(scale=1, min_width=280):
                gr.Markdown("### 3. Animate")
                prompt = gr.Textbox(
                    label="Prompt", lines=2, elem_id="prompt",
                    placeholder="a cartoon cat is dancing, snow is falling behind it",
                )  # fmt: skip
                background = gr.Radio(
                    list(BACKGROUND_PRESETS), value="as written", label="Background",
                    info="replaces what the prompt says after its first comma", elem_id="background",
                )  # fmt: skip
                align = gr.Radio(
                    list(ALIGN_MODES), value="bones", label="Align the driving pose to the character",
                    info="bones: the character's bone lengths; global: scale and shift; none: as driven",
                )  # fmt: skip
                with gr.Row():
                    size = gr.Textbox(
                        label="Size (WIDTHxHEIGHT)", placeholder="blank: the model's default",
                        elem_id="size",
                    )  # fmt: skip
                    frames = gr.Number(
                        value=17, label="Frames", precision=0, minimum=1, maximum=limits.max_frames,
                        elem_id="frames",
                    )  # fmt: skip
                with gr.Accordion("Sampler", open=False):
                    steps = gr.Slider(1, 100, value=default_steps, step=1, label="Steps")
                    guidance = gr.Slider(
                        0, 10, value=default_guidance, step=0.5, label="Guidance (<= 1: off)"
                    )
                    text_guidance = gr.Slider(
                        0, 10, value=default_text_guidance, step=0.5, label="Text guidance (<= 1: off)",
                        info="guidance on the prompt alone: raise it to make the background follow the prompt",
                    )  # fmt: skip
                    seed = gr.Number(value=0, label="Seed", precision=0, minimum=0)
                with gr.Accordion("Long video and speed", open=False):
                    window_strategy = gr.Dropdown(
                        list(WINDOW_CHOICES), value=MODEL_DEFAULT, label="Windows",
                        info="a driving video longer than the model's clip length runs in windows: chain "
                        "(each continues the last; smooth seams) or context (blended at every step)",
                    )  # fmt: skip
                    cache = gr.Dropdown(
                        list(CACHE_CHOICES), value="none", label="Step cache",
                        info="skip work between similar steps (fbc: first-block cache; pab, fastercache: reuse attention); pays off at many steps",
                    )  # fmt: skip
                animate_button = gr.Button("Animate", variant="primary", elem_id="animate-button", size="lg")
        if examples:
            gr.Examples(
                [
                    [*map(str, (ex.reference, ex.driving, ex.reference_pose, ex.driving_poses)), "bones",
                     "", 17, ex.prompt]
                    for ex in examples
                ],
                inputs=[reference, driving, reference_pose, driving_poses, align, size, frames, prompt],
                example_labels=[ex.label for ex in examples],
                label="Examples (A2Bench-Synth test cases: held-out characters and motions): click one, then Animate",
            )  # fmt: skip
        gr.Markdown("### Result")
        with gr.Row(equal_height=False):
            result = gr.Video(
                label="Result", autoplay=True, loop=True, interactive=False, height=320, elem_id="result-video",
                elem_classes=["animatex-media"],
            )  # fmt: skip
            grid = gr.Video(
                label="reference | driving | pose | result", autoplay=True, loop=True, interactive=False,
                height=320, elem_id="grid-video", elem_classes=["animatex-media"], scale=2,
            )  # fmt: skip
        with gr.Row(equal_height=False):
            downloads = gr.File(
                label="Downloads", file_count="multiple", interactive=False, elem_id="downloads"
            )
            notes = gr.Markdown(elem_id="run-notes")

        pose_inputs = [reference, driving, reference_pose, driving_poses, align, size, frames]

        @_shows_errors
        def show_reference(reference_file: str | None, reference_pose_file: str | None) -> str | None:
            if not reference_file:
                return None
            return str(studio.reference_view(reference_file, reference_pose_file))

        def read_inputs(*values: Any) -> Inputs:
            """`pose_inputs`' values as the studio's `Inputs`."""
            *files, align_mode, size_text, num_frames = values
            return Inputs(*files, align=align_mode, size=size_text or "", frames=int(num_frames or 1))

        @_shows_errors
        def show_preview(*values: Any) -> str:
            return str(studio.pose_preview(read_inputs(*values)))

        def auto_preview(*values: Any) -> Any:
            """The preview after an upload or a change: only once both files are there."""
            if not values[0] or not values[1]:
                return None
            return show_preview(*values)

        # Named parameters, not *values: gradio finds the Progress argument (and so tracks the sampler's tqdm
        # bar) only among positional parameters, and the API page shows these names.
        @_shows_errors
        def run_animation(
            reference_file: str | None,
            driving_file: str | None,
            reference_pose_file: str | None,
            driving_poses_file: str | None,
            align_mode: str,
            size_text: str,
            num_frames: float,
            prompt_text: str,
            background_preset: str,
            num_steps: float,
            guidance_scale: float,
            text_guidance_scale: float,
            noise_seed: float,
            window_choice: str,
            cache_choice: str,
            progress: gr.Progress = gr.Progress(track_tqdm=True),
        ) -> tuple[str, str, list[str], str]:
            inputs = read_inputs(
                reference_file,
                driving_file,
                reference_pose_file,
                driving_poses_file,
                align_mode,
                size_text,
                num_frames,
            )
            run = studio.animate(
                inputs, prompt=prompt_text or "", background=background_preset, steps=int(num_steps),
                guidance=float(guidance_scale), text_guidance=float(text_guidance_scale), seed=int(noise_seed or 0),
                window_strategy=None if window_choice == MODEL_DEFAULT else window_choice, cache=cache_choice,
                stage=lambda what: progress(0.0, desc=what),
            )  # fmt: skip
            lines = [
                f"**Prompt sent to the model:** {run.prompt or '(empty)'}",
                f"**Size:** {run.size} · **frames:** {run.num_frames}",
            ]
            lines += [f"- note: {_readable(note)}" for note in run.notes]
            files = [str(run.video), str(run.grid), str(run.poses), str(run.settings)]
            return str(run.video), str(run.grid), files, "\n\n".join(lines)

        gr.on(
            [reference.change, reference_pose.change], show_reference, inputs=[reference, reference_pose],
            outputs=reference_view, concurrency_id="poses", concurrency_limit=1, api_name="reference_view",
        )  # fmt: skip
        gr.on(
            [reference.change, driving.change, reference_pose.change, driving_poses.change, align.change],
            auto_preview, inputs=pose_inputs, outputs=preview, concurrency_id="poses", concurrency_limit=1,
            api_visibility="private",
            trigger_mode="always_last",
        )  # fmt: skip
        preview_button.click(
            show_preview,
            inputs=pose_inputs,
            outputs=preview,
            concurrency_id="poses",
            concurrency_limit=1,
            api_name="pose_preview",
        )
        animate_button.click(
            run_animation,
            inputs=[*pose_inputs, prompt, background, steps, guidance, text_guidance, seed, window_strategy, cache],
            outputs=[result, grid, downloads, notes],
            concurrency_id="device",
            concurrency_limit=1,
            api_name="animate",
        )
    return app


def launch(
    app: gr.Blocks,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    out_dir: str | Path,
    max_file_mb: float,
    queue_size: int = 32,
    block: bool = True,
) -> None:
    """Serve `app`: one animation at a time (a queue), offline (no analytics, no share link unless asked)."""
    app.queue(default_concurrency_limit=1, max_size=queue_size)
    app.launch(
        server_name=host,
        server_port=port,
        share=share,
        max_file_size=f"{max_file_mb:g}mb",
        allowed_paths=[str(Path(out_dir).resolve())],
        prevent_thread_lock=not block,
        footer_links=["api"],
        theme=gr.themes.Default(primary_hue="orange", secondary_hue="sky"),
        css=CSS,
        ssr_mode=False,
        mcp_server=False,
        pwa=False,
        enable_monitoring=False,
        inbrowser=False,
    )
