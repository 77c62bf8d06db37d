"""Generate a synthetic dataset folder: checks, chunked parallel work, resume, meta.json, preview.

Samples are made in chunks of `CHUNK` consecutive indices. Each finished chunk leaves its label
records in ``<out>/.synth_work/chunk_XXXXXX.json`` (written atomically), so an interrupted run
resumes where it stopped; image files that already exist are kept. When all chunks are done the
writer assembles the dataset's annotation files in index order, ``meta.json`` is written and
the chunk files removed (``.synth_work/preview.json`` stays, for ``--preview`` later).
Annotations are assembled streaming over the chunk files, so memory stays flat in `n`. Every sample is a function of (seed, index) only, so the bytes written
do not depend on `workers`.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing as mp
import os
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

import handkit
from handkit.data.synth.appearance import domain, preload_photos
from handkit.data.synth.multi import check_hands
from handkit.data.synth.scenes import hand_model
from handkit.data.synth.writers import WRITERS, Writer
from handkit.utils.check import check_choice
from handkit.utils.files import is_temp, remove_stale_temps, write_json

__all__ = ["CHUNK", "synthesize", "is_complete", "check_request", "warm_up"]

CHUNK = 32
_WORK = ".synth_work"
_PREVIEW_ITEMS = 64


def check_request(fmt: str, out: str | os.PathLike, n: int, seed: int, size: int | None,
                  workers: int, appearance: str = "default",
                  hands: int | tuple[int, int] | None = None) -> tuple[Writer, Path, int]:
    """Validate a request before any work; returns (writer, output folder, image size)."""
    check_choice(fmt, WRITERS, name="format")
    domain(appearance)  # ValueError naming the look's unknown part
    writer = WRITERS[fmt]
    if hands is not None:
        if "hands" not in writer.options:
            raise ValueError(f"hands: only the multihand layout takes a hand count; {fmt} has "
                             "its own.")
        check_hands(hands)
    if not isinstance(n, int) or n <= 0:
        raise ValueError(f"n: expected a positive number of samples, got {n!r}.")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected an integer >= 0, got {seed!r}.")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers: expected an integer >= 1, got {workers!r}.")
    size = writer.default_size if size is None else size
    lo, hi = writer.size_range
    if not isinstance(size, int) or not lo <= size <= hi:
        raise ValueError(f"size: {fmt} images must be {lo}-{hi} px, got {size!r}.")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out: {out} exists and is not a folder.")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".synth_write_test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ValueError(f"out: cannot write to {out} ({err.strerror or err}).") from None
    if not (out / "meta.json").exists():
        theirs = sorted(p.name for p in out.iterdir() if not is_temp(p))
        if theirs:
            # Writing a dataset into someone's folder would replace their label files and keep
            # their images: images and labels silently mismatched.
            raise FileExistsError(
                f"out: {out} holds files handkit synth did not write ({', '.join(theirs[:3])}"
                f"{', ...' if len(theirs) > 3 else ''}); choose an empty or new folder.")
    return writer, out, size


def _meta(fmt: str, n: int, seed: int, size: int, writer: Writer, appearance: str,
          options: dict | None = None) -> dict:
    args = {"n": n, "seed": seed, "size": size}
    if appearance != "default":  # folders made before the option existed still resume
        args["appearance"] = appearance
    for key, value in (options or {}).items():  # likewise: only when given
        args[key] = list(value) if isinstance(value, tuple) else value
    return {"generator": "handkit synth", "version": handkit.__version__, "format": fmt,
            "args": args, "model": "OpenHand",
            "layout": writer.layout, "complete": False}


def warm_up() -> None:
    """Build the per-process caches (OpenHand, background photographs) once."""
    hand_model()
    preload_photos()


def _chunk_len(c: int, n: int) -> int:
    return min(n, (c + 1) * CHUNK) - c * CHUNK


def _chunk_path(out: Path, c: int) -> Path:
    return out / _WORK / f"chunk_{c:06d}.json"


def _run_chunk(job: tuple[str, str, int, int, int, int, str, dict]) -> int:
    fmt, out, n, seed, size, c, appearance, options = job
    import torch

    torch.set_num_threads(1)
    writer = WRITERS[fmt]
    records = [writer.make(Path(out), seed, i, size, n, appearance, **options)
               for i in range(c * CHUNK, c * CHUNK + _chunk_len(c, n))]
    path = _chunk_path(Path(out), c)
    write_json(path, records, indent=None)
    return c


def is_complete(out: str | os.PathLike) -> bool:
    """True when `out` holds a finished `synthesize` output (a re-run would only reuse it)."""
    try:
        return bool(json.loads((Path(out) / "meta.json").read_text()).get("complete"))
    except (OSError, json.JSONDecodeError, AttributeError):
        return False


def synthesize(fmt: str, out: str | os.PathLike, n: int, seed: int = 0, size: int | None = None,
               workers: int = 1, preview: str | os.PathLike | None = None,
               progress: bool = True, appearance: str = "default",
               hands: int | tuple[int, int] | None = None) -> Path:
    """Write `n` synthetic samples in format `fmt` into `out` (see `WRITERS`).

    Args:
        fmt: ``freihand``, ``interhand``, ``hand100m`` or ``multihand``.
        out: output folder (created; an existing one from the same arguments is resumed).
        n: number of samples (> 0). seed: integer >= 0. size: image size in px (format default).
        workers: processes. preview: optional PNG path for a contact sheet with skeletons.
        progress: show a progress bar.
        appearance: the look distribution, an `appearance.domain` name: ``default``,
            ``shifted`` (a held-out look for domain-shift tests), ``transfer`` (every transfer
            option), or a base with options, ``default+forearm+camera`` (docs/synth.md).
        hands: multihand only: hands per image, a count or a (fewest, most) range within 1-4
            (None: the default 2-4; `multi.check_hands`). Stored in ``meta.json``'s args.

    Returns:
        The output folder. Raises ValueError for a bad request, before any work.
    """
    writer, out, size = check_request(fmt, out, n, seed, size, workers, appearance, hands)
    options = {} if hands is None else {"hands": check_hands(hands)}
    meta = _meta(fmt, n, seed, size, writer, appearance, options)
    meta_path = out / "meta.json"
    remove_stale_temps(out, recursive=True)
    if meta_path.exists():
        try:
            old = json.loads(meta_path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"out: {meta_path} is not valid JSON ({err}); remove it.") from None
        if old.get("generator") != meta["generator"]:
            raise FileExistsError(f"out: {meta_path} was not written by handkit synth; choose "
                                  "an empty or new folder.")
        if (old.get("format"), old.get("args")) != (fmt, meta["args"]):
            raise ValueError(f"out: {out} holds a {old.get('format')} dataset made with "
                             f"{old.get('args')}; use another folder to make {meta['args']}.")
        complete = bool(old.get("complete"))
    else:
        write_json(meta_path, meta, indent=2)
        complete = False
    if not complete:
        (out / _WORK).mkdir(exist_ok=True)
        n_chunks = (n + CHUNK - 1) // CHUNK
        todo = [c for c in range(n_chunks) if not _chunk_path(out, c).exists()]
        jobs = [(fmt, str(out), n, seed, size, c, appearance, options) for c in todo]
        bar = tqdm(total=n, initial=n - sum(_chunk_len(c, n) for c in todo),
                   desc=f"synth {fmt}", unit="img", disable=not progress)
        if workers == 1 or len(jobs) <= 1:
            for job in jobs:
                bar.update(_chunk_len(_run_chunk(job), n))
        else:
            warm_up()  # forked workers inherit the model and the photographs
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            with mp.get_context(method).Pool(workers) as pool:
                for c in pool.imap_unordered(_run_chunk, jobs):
                    bar.update(_chunk_len(c, n))
        bar.close()

        def records() -> Iterator[dict]:  # one chunk in memory at a time
            for c in range(n_chunks):
                yield from json.loads(_chunk_path(out, c).read_text())

        writer.finalize(out, records, seed)
        meta["complete"] = True
        write_json(meta_path, meta, indent=2)
        write_json(out / _WORK / "preview.json",
                   [r["_preview"] for r in itertools.islice(records(), _PREVIEW_ITEMS)],
                   indent=None)
        for c in range(n_chunks):
            _chunk_path(out, c).unlink()
    if preview is not None:
        from handkit.data.synth.preview import contact_sheet

        items = json.loads((out / _WORK / "preview.json").read_text())
        contact_sheet(out, items, Path(preview))
    return out
