"""Weight cards: what a shipped weight file was trained on, how, for how long, and how well it does.

Each ``streamdeblur/weights/<name>.pt`` has ``<name>.md`` (for people) and ``<name>.json``
(numbers). The numbers come from the **test split** (touched once per shipped weight, never used
to choose anything), evaluated through the product's own stage with its defaults
(:func:`~streamdeblur.train.evaluate.product_stage`), with 95 % bootstrap intervals over images:

- the blurred test set of the weight's task (``test_<task>.pt`` of a built dataset);
- the no-blur test set (``test_noblur.pt``: sharp + sensor noise + JPEG/H.264): do no harm;
- the clean no-blur test set (``test_clean.pt``: sharp, no sensor noise, H.264 at crf 8–12: screen
  recordings, downscaled 4K, high-bitrate files): do no harm on clean input too;
- a small committed subset of both (``tests/data/card_subset_<task>.pt``: one 128-px centre crop
  per test image) that ``tests/train/test_card.py`` recomputes from a fresh clone.

Run (writes the card next to the weights and prints the tables)::

    python -m streamdeblur.train.card streamdeblur/weights/deeprftv2-t-motion.pt --data data/sharp

``--add clean`` evaluates only the clean no-blur set and adds it to an existing card (and its part to
the committed subset), leaving the card's other numbers as they were measured.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from datetime import date
from pathlib import Path

import torch

from ..compute.cpus import cpu_model_name
from ..models import load_weights, model_info
from ..models.gate import gate_path
from ..models.registry import bundled_weights_path
from .evaluate import evaluate, public, table_row

SUBSET_SIZE = 128
#: card section → (subset part, test set file name; ``{task}`` filled in)
PARTS = {"test": ("blur", "test_{task}.pt"), "noblur": ("noblur", "test_noblur.pt"), "clean": ("clean", "test_clean.pt")}
#: The command that recomputes the committed subset numbers.
SUBSET_COMMAND = "python -m pytest -q tests/train/test_card.py"


def tensor_digest(data: dict) -> str:
    """SHA-256 of an evaluation set's pixels (``blurry`` then ``sharp`` bytes): the same crops give
    the same digest whatever pickle wrote the file."""
    h = hashlib.sha256()
    for key in ("blurry", "sharp"):
        h.update(data[key].contiguous().numpy().tobytes())
    return h.hexdigest()


def make_subset(data: dict, size: int = SUBSET_SIZE) -> dict:
    """The first crop of every image of an evaluation set, centre-cropped to ``size`` (pixels only)."""
    first: dict[str, int] = {}
    for i, s in enumerate(data["sources"]):
        first.setdefault(s, i)
    idx = list(first.values())
    h = data["blurry"].shape[-1]
    o = (h - size) // 2
    crop = (slice(None), slice(None), slice(o, o + size), slice(o, o + size))
    return {
        "blurry": data["blurry"][idx][crop].clone(),
        "sharp": data["sharp"][idx][crop].clone(),
        "sources": [data["sources"][i] for i in idx],
        "seed": data["seed"],
        "size": size,
        "task": data.get("task", "motion"),
        "split": data.get("split"),
        "no_blur": data.get("no_blur", False),
    }


def read_subset(path: str | Path) -> dict:
    """A committed card subset (``{"blur": …, "noblur": …, "clean": …}``), read safely, or a one-line
    :class:`~streamdeblur.errors.SourceError` naming the file (exit 3)."""
    from ..errors import SourceError
    from .dataset import read_set

    sub = read_set(path, "card subset", ())
    if not any(isinstance(sub.get(part), dict) for part, _ in PARTS.values()):
        raise SourceError(f"{path} is not a card subset (no {', '.join(p for p, _ in PARTS.values())} part in it)")
    return sub


def write_subset(root: Path, task: str, out: Path, extend: bool = True) -> Path:
    """``{"blur": …, "noblur": …, "clean": …}`` subsets of a built dataset's test sets for ``task``
    (``clean`` where the dataset has ``test_clean.pt``); parts already in ``out`` are kept as they are.

    Args:
        extend: add the parts an existing ``out`` lacks (the project's committed subsets); otherwise an
            existing ``out`` is an input, used as it is and never rewritten (``train --card-subset``
            rewrote the user's file in place).
    """
    if out.exists() and not extend:
        read_subset(out)
        return out
    sub = read_subset(out) if out.exists() else {}
    added = False
    for part, name in PARTS.values():
        path = root / name.format(task=task)
        if part not in sub and path.exists():
            sub[part] = make_subset(torch.load(path, weights_only=True))
            sub[part]["task"] = task  # the no-blur crops go through this task's stage
            added = True
    if added or not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".partial")  # whole or not at all
        torch.save(sub, tmp)
        tmp.replace(out)
    return out


def subset_numbers(subset_file: Path, spec: str) -> dict:
    """Mean PSNR of the input and of the model (``spec``) on every part of a committed subset."""
    sub = read_subset(subset_file)
    out = {}
    for part in (p for p, _ in PARTS.values() if p in sub):
        res = evaluate(sub[part], [spec], with_rl=False)
        out[part] = {"blurry input": res["results"]["blurry input"]["psnr"], "model": res["results"][spec]["psnr"]}
    return out


def _rows(res: dict, spec: str) -> dict:
    """Results keyed ``model`` for the weight under test (per-crop PSNR kept, in the order of ``sources``)."""
    alias = {spec: "model", f"{spec} without gate": "model without gate"}
    return {alias.get(name, name): r for name, r in res["results"].items()}


def _data_section(root: Path, test_sets: dict[str, Path]) -> dict:
    manifest_file = root / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    files = [e for e in manifest["files"] if "split" in e]
    packages: dict[str, str] = {}
    for e in files:
        if e.get("package"):  # a user's own files have none
            packages.setdefault(e["package"], e.get("version") or "")
    return {
        "manifest_sha256": hashlib.sha256(manifest_file.read_bytes()).hexdigest(),
        "packages": packages,
        "own_files": sum(not e.get("package") for e in files),  #: the user's own photos and videos (``--source``)
        "sources": {s: sum(e["split"] == s for e in files) for s in ("train", "val", "test")},
        "test_sources": [
            {"id": e["id"], "package": e.get("package"), "path": e.get("path"), "sha256": e.get("sha256")}
            for e in files
            if e["split"] == "test"
        ],
        "test_sets": {
            k: {"file": str(p), "pixels_sha256": tensor_digest(torch.load(p, weights_only=True))} for k, p in test_sets.items()
        },
    }


def write_card(
    weights: str | Path,
    root: str | Path,
    subset_file: str | Path | None = None,
    recipe: str | None = None,
    log=print,
    extend_subset: bool = True,
) -> Path:
    """Evaluate a weights file on the test split of a built dataset and write its card.

    Args:
        weights: the weights file (``streamdeblur/weights/<name>.pt``); the card goes next to it.
        root: a built dataset (``streamdeblur data build``) with ``test_<task>.pt`` and ``test_noblur.pt``.
        subset_file: the committed subset (default ``tests/data/card_subset_<task>.pt``; written when missing).
        recipe: the recipe file the weights were trained with (recorded).
        log: progress messages.
        extend_subset: add missing parts to an existing subset file (:func:`write_subset`); off, it is read only.

    Returns:
        The ``.json`` card's path (the ``.md`` is beside it).
    """
    weights, root = Path(weights), Path(root)
    st = torch.load(weights, map_location="cpu", weights_only=True)
    meta = st.get("meta", {})
    name = meta.get("model")
    info = model_info(name)
    load_weights(info.builder(), weights)  # refuses a file that does not fit the model
    task = info.task
    spec = f"{name}:{weights}"
    gate = Path(gate_path(weights))  # the do-no-harm gate fitted for these weights (used by the stage)
    test_sets = {part: root / name.format(task=task) for part, name in PARTS.values()}
    test_sets = {k: p for k, p in test_sets.items() if k != "clean" or p.exists()}  # datasets built before it: none
    results = {
        part: _evaluate_part(weights, spec, task, part, path, torch.load(path, weights_only=True), gate, log)
        for part, path in test_sets.items()
    }
    subset_file = Path(subset_file or f"tests/data/card_subset_{task}.pt")
    write_subset(root, task, subset_file, extend=extend_subset)
    cfg = json.loads(meta.get("config", "{}"))
    runlog = json.loads(meta.get("runlog", "null") or "null")
    history = json.loads(meta.get("history", "{}") or "{}")
    cmd = f"python -m streamdeblur.train.card {weights.as_posix()} --data {root.as_posix()}" + (
        f" --recipe {recipe}" if recipe else ""
    )
    card = {
        "model": name,
        "file": weights.name,
        "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "bytes": weights.stat().st_size,
        "task": task,
        "gate": (
            {"file": gate.name, "sha256": hashlib.sha256(gate.read_bytes()).hexdigest(), "fit": _gate_record(gate)}
            if gate.is_file()
            else None
        ),
        "date": date.today().isoformat(),
        #: these are the project's weights when they sit in the package's weights folder; a user's export is not
        "bundled": bundled_weights_path(weights.name).resolve() == weights.resolve(),
        "step": meta.get("step"),
        "recipe": recipe,
        "train_config": cfg,
        "runs": runlog,
        "validation_curve": history,
        "data": _data_section(root, test_sets),
        "evaluated_on": {"cpu": cpu_model_name(), "torch": torch.__version__, "stage": f"pipelines/{task}.yaml defaults"},
        **{section: _section(results[part], spec) for section, (part, _) in PARTS.items() if part in results},
        "subset": {"file": subset_file.as_posix(), "results": subset_numbers(subset_file, spec)},
        "commands": {"test": cmd, "noblur": cmd, "subset": SUBSET_COMMAND} | ({"clean": cmd} if "clean" in results else {}),
    }
    return _save(weights, card)


def _evaluate_part(weights: Path, spec: str, task: str, part: str, path: Path, data: dict, gate: Path, log) -> dict:
    """One test set (``data``, read from ``path``) through the task's stage (the model with its gate and,
    where it has one, without)."""
    log(f"{weights.name}: {part} test set {path} through the '{task}' stage")
    if data.get("split") != "test":
        raise ValueError(f"{path} is not a test set (split {data.get('split')!r})")
    data["task"] = task
    return evaluate(data, [spec], with_rl=part == "blur", ungated=gate.is_file())


def _section(res: dict, spec: str) -> dict:
    """A card's table section from :func:`~streamdeblur.train.evaluate.evaluate`'s result."""
    return {"n": res["n"], "images": res["images"], "sources": res["sources"], "results": _rows(public(res), spec)}


def _save(weights: Path, card: dict) -> Path:
    jpath = weights.with_suffix(".json")
    for path, text in ((jpath, json.dumps(card, indent=1) + "\n"), (weights.with_suffix(".md"), card_markdown(card))):
        tmp = path.with_name(path.name + ".partial")  # written whole, then renamed
        tmp.write_text(text)
        tmp.replace(path)
    return jpath


def add_clean(weights: str | Path, root: str | Path, log=print) -> Path:
    """Add the clean no-blur test (``test_clean.pt``) to an existing card, and its part to the committed
    subset; the card's other sections stay as they were measured (the test split is read for this set only).

    Returns:
        The ``.json`` card's path.
    """
    weights, root = Path(weights), Path(root)
    card = json.loads(weights.with_suffix(".json").read_text())
    task, spec, gate = card["task"], f"{card['model']}:{weights}", Path(gate_path(weights))
    if card["sha256"] != hashlib.sha256(weights.read_bytes()).hexdigest():
        raise ValueError(f"{weights.with_suffix('.json')} describes another weights file: write the whole card")
    path = root / PARTS["clean"][1]
    data = torch.load(path, weights_only=True)
    card["clean"] = _section(_evaluate_part(weights, spec, task, "clean", path, data, gate, log), spec)
    subset_file = Path(card["subset"]["file"])
    write_subset(root, task, subset_file)
    card["data"]["test_sets"]["clean"] = {"file": str(path), "pixels_sha256": tensor_digest(data)}
    card["subset"]["results"]["clean"] = subset_numbers(subset_file, spec)["clean"]
    card["commands"]["clean"] = f"python -m streamdeblur.train.card {weights.as_posix()} --data {root.as_posix()} --add clean"
    card["clean_evaluated"] = {"date": date.today().isoformat(), "cpu": cpu_model_name(), "torch": torch.__version__}
    return _save(weights, card)


def _gate_section(gate: dict | None) -> str:
    if not gate:
        return "None: the stage returns the model's output as it is."
    lines = [
        f"`{gate['file']}` (sha256 `{gate['sha256']}`), used by the stage with these weights: it blends, region by region,",
        "the input and the model's output (`streamdeblur/models/gate.py`; fitted to keep what helps). The tables below show the",
        "model with it (`model`) and without it (`model without gate`).",
    ]
    fit = gate.get("fit")
    if fit:
        from .gate import MODELS, TASK_PIPELINE

        video = " --video" if "fused video frames" in fit["train_crops"] else ""
        model = fit.get("model", MODELS[fit["task"]])
        extra = "" if model == MODELS[fit["task"]] else f" --model {model}"
        if video and fit.get("video_pipeline", TASK_PIPELINE) != TASK_PIPELINE:
            extra += f" --pipeline {fit['video_pipeline']}"
        extra += " --camera" if fit.get("camera") else ""
        video += " --steady" if fit.get("steady") else ""
        if fit.get("steady") and (fit.get("steady_clips"), fit.get("steady_frames")) not in ((None, None), (8, 40)):
            video += f" --steady-clips {fit['steady_clips']} --steady-frames {fit['steady_frames']}"
        video += f" --clean-clips {fit['clean_clips']}" if fit.get("clean_clips") else ""
        extra += " --clean" if fit.get("clean") else ""
        extra += f" --harm-tile {fit['harm_tile']}" if fit.get("harm_tile") else ""
        extra += f" --steps {fit['steps']}" if fit.get("steps", 3000) != 3000 else ""
        out = f"runs/gate-{fit['task']}" if model == MODELS[fit["task"]] else f"runs/gate-{model}"
        cmd = f"python -m streamdeblur.train.gate --task {fit['task']} --data data/sharp --out {out}{video}{extra}"
        lines.append(
            f"Fitted with the model frozen on {sum(fit['train_crops'].values())} training-split crops "
            f"({', '.join(f'{k} {v}' for k, v in fit['train_crops'].items())}), {fit['steps']} steps, "
            f"{fit['minutes']} min on a CPU; checkpoint chosen on the validation split: `{cmd}`."
        )
        for name, raw in fit["validation_raw_model"].items():
            g = fit["validation_gated"][name]
            lines.append(
                f"- validation `{name}`: mean / worst crop {raw['mean']:+.2f} / {raw['worst']:+.2f} dB without the gate, "
                f"{g['mean']:+.2f} / {g['worst']:+.2f} dB with it"
            )
    return "\n".join(lines)


def _gate_record(gate: Path) -> dict | None:
    """The fit record committed beside a gate (``<name>.gate.json``), if any."""
    rec = gate.with_suffix(".json")
    return json.loads(rec.read_text()) if rec.is_file() else None


def _table(section: dict) -> str:
    res = section["results"]
    base = res["blurry input"]["psnr"]
    head = "| method | PSNR (dB) [95 % CI] | gain over input [95 % CI] | SSIM |\n|---|---|---|---|\n"
    return head + "\n".join(table_row(k, v, base, section.get("images")) for k, v in res.items())


def _curve(history: dict, runlog: dict | None = None) -> str:
    steps = history.get("eval_step") or []
    if not steps and runlog:  # a run that logs its sessions logs its validation too: it had none
        return "none: the recipe named no validation set (`eval_set`)."
    if not steps:
        return "not stored in the weights file (trained before runs logged their validation)."
    rows = ["| step | val blur: model / input (dB) | val no-blur: model / input (dB) |", "|---|---|---|"]
    blur, blur0 = history.get("eval_psnr", []), history.get("eval_psnr_input", [])
    nb, nb0 = history.get("eval_noblur_psnr", []), history.get("eval_noblur_psnr_input", [])
    pick = sorted({0, len(steps) - 1, *range(0, len(steps), max(1, len(steps) // 8))})
    for i in pick:
        a = f"{blur[i]:.2f} / {blur0[i]:.2f} ({blur[i] - blur0[i]:+.2f})" if i < len(blur) else "—"
        b = f"{nb[i]:.2f} / {nb0[i]:.2f} ({nb[i] - nb0[i]:+.2f})" if i < len(nb) else "—"
        rows.append(f"| {steps[i]} | {a} | {b} |")
    return "\n" + "\n".join(rows)


def _runs(runlog: dict | None) -> str:
    if not runlog:
        return "- not recorded in the weights file (trained before runs logged their sessions)."
    lines = []
    if runlog.get("init"):
        i = runlog["init"]
        lines.append(f"- initialised from `{Path(i['file']).name}` (sha256 `{i['sha256'][:16]}…`, its step {i.get('step')})")
    if runlog.get("fused_set"):
        f = runlog["fused_set"]
        lines.append(
            f"- fused video frames (`python -m streamdeblur.train.fused`): `{f['file']}`, {f['frames']} frames, "
            f"sha256 `{(f.get('sha256') or '?')[:16]}…`"
        )
    for s in runlog.get("sessions", []):
        lines.append(
            f"- session {s.get('started')}: steps {s['start_step']} → {s['end_step']}, {s['minutes']} min on "
            f"{s['device']}" + (f", {s['threads']} threads" if s.get("threads") else "")
        )
    for r in runlog.get("resumes", []):
        lines.append(
            f"- resumed at step {r['step']} ({r['time']})" + (f", changed: {', '.join(r['changed'])}" if r["changed"] else "")
        )
    total = sum(s["minutes"] for s in runlog.get("sessions", []))
    lines.append(
        f"- total: {total:.0f} min of training in this run (recipe {runlog.get('recipe_hash')}, code {runlog.get('code_hash')})"
    )
    return "\n".join(lines)


def card_markdown(card: dict) -> str:
    """The human-readable card."""
    cfg, d = card["train_config"], card["data"]
    test, nob, sub = card["test"], card["noblur"], card["subset"]["results"]
    gain = test["results"]["model"]["gain"]
    nb_gain = nob["results"]["model"]["gain"]
    clean = card.get("clean")
    clean_head = f"; clean no-blur input {clean['results']['model']['gain']:+.2f} dB" if clean else ""
    bundled = card.get("bundled", True)  # cards written before the field: the shipped ones
    packages = ", ".join(f"{k} {v}" for k, v in d["packages"].items())
    content = (f"Debian packages {packages}" if packages else "") + (
        f"{'; and ' if packages else ''}your own folders ({d['own_files']} files)" if d.get("own_files") else ""
    )
    who = "trained by the streamdeblur developers" if bundled else "trained with `streamdeblur train`"
    rebuild = "`streamdeblur data build --out data/sharp`" if not d.get("own_files") else "the same `streamdeblur data build`"
    check = f", recomputed from a fresh clone by\n  `{card['commands']['subset']}`" if bundled else ""
    subset_numbers = (
        f"blur {sub['blur']['blurry input']:.2f} → {sub['blur']['model']:.2f} dB,\n"
        f"  no-blur {sub['noblur']['blurry input']:.2f} → {sub['noblur']['model']:.2f} dB{_clean_subset(sub)}"
    )
    ci = test["results"]["model"]["gain_ci"]
    sets = ", ".join(f"`{Path(v['file']).name}` `{v['pixels_sha256'][:16]}…`" for v in d["test_sets"].values())
    recipe = (
        f"model `{cfg.get('model')}`, batch {cfg.get('batch')}, crops {cfg.get('crop_schedule')}, AdamW lr {cfg.get('lr')} "
        f"({cfg.get('schedule', 'cosine')}, min {cfg.get('min_lr')}, warm-up {cfg.get('warmup')}, {cfg.get('steps')} steps), "
        f"L1 + {cfg.get('fft_weight')} × Fourier loss, EMA {cfg.get('ema')}, bf16 {cfg.get('bf16')}, seed {cfg.get('seed')}"
    )
    sources = "\n".join(
        f"  - `{s['id']}` {s['package'] or 'your folder'}: `{s['path']}` sha256 `{s['sha256']}`" for s in d["test_sources"]
    )
    return f"""# {card["file"]}

Model `{card["model"]}` ({card["task"]} deblurring), fp16, {card["bytes"] / 2**20:.1f} MiB, sha256 `{card["sha256"]}`,
{who}. Step {card["step"]}.

**Test split, through the product's `{card["task"]}` stage: {gain:+.2f} dB over the blurry input
(95 % CI {ci[0]:+.2f} … {ci[1]:+.2f}); no-blur input {nb_gain:+.2f} dB{clean_head}.**

## Do-no-harm gate
{_gate_section(card.get("gate"))}

## Data
- Sharp content: {content}; manifest sha256 `{d["manifest_sha256"]}`.
- Sources per split (by scene): train {d["sources"]["train"]}, validation {d["sources"]["val"]}, test {d["sources"]["test"]}.
  Training sees only the training split; validation chose nothing on the test split.
- Test sets (pixels sha256): {sets}.
- Test photographs:
{sources}

## Recipe
`{card["recipe"] or "(recipe file not recorded)"}` — {recipe}.

## Runs (device, minutes, steps)
{_runs(card["runs"])}

## Validation curve (validation split; what checkpoints were chosen on)
{_curve(card["validation_curve"], card["runs"])}

## Test (test split, {test["n"]} crops of 256² from {test["images"]} photographs; intervals: bootstrap over photographs)

{_table(test)}

## No-blur test (sharp + sensor noise + JPEG/H.264, {nob["n"]} crops from {nob["images"]} photographs): do no harm

{_table(nob)}
{_clean_section(card)}
Evaluated {card["date"]} on {card["evaluated_on"]["cpu"]}, torch {card["evaluated_on"]["torch"]}, through the stage built
from {card["evaluated_on"]["stage"]} (the runner's builder; bf16 as the product chooses on that machine).

## Reproduce
- test and no-blur tables: `{card["commands"]["test"]}` (after {rebuild})
- subset (`{card["subset"]["file"]}`, one 128-px crop per test photograph){check}: {subset_numbers}.
"""


def _clean_section(card: dict) -> str:
    clean = card.get("clean")
    if not clean:
        return ""
    when = card.get("clean_evaluated")
    note = (
        f" Added to this card on {when['date']} ({when['cpu']}, torch {when['torch']}): `{card['commands']['clean']}`."
        if when
        else ""
    )
    return f"""
## Clean no-blur test: do no harm on clean input

Sharp, no sensor noise, H.264 crf 8–12, {clean["n"]} crops from {clean["images"]} photographs.
Screen recordings, downscaled 4K and high-bitrate files are cleaner than anything in the no-blur set above.{note}

{_table(clean)}
"""


def _clean_subset(sub: dict) -> str:
    c = sub.get("clean")
    return f", clean no-blur {c['blurry input']:.2f} → {c['model']:.2f} dB" if c else ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m streamdeblur.train.card", description=__doc__.split("\n\n")[0])
    ap.add_argument("weights", help="weights file; the card is written next to it")
    ap.add_argument("--data", default="data/sharp", help="a built dataset (test_<task>.pt, test_noblur.pt)")
    ap.add_argument("--subset", help="committed subset (default tests/data/card_subset_<task>.pt; written when missing)")
    ap.add_argument("--recipe", help="the recipe the weights were trained with (recorded in the card)")
    ap.add_argument("--add", choices=["clean"], help="evaluate only this test set and add it to the existing card")
    args = ap.parse_args(argv)
    if args.add:
        path = add_clean(args.weights, args.data)
    else:
        path = write_card(args.weights, args.data, args.subset, args.recipe)
    print(path.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
