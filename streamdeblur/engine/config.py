"""YAML pipelines → typed dataclasses, validated with errors that name the file, line and key.

A pipeline file (see ``pipelines/*.yaml``)::

    description: Remove camera-shake blur.
    batch: 0                  # frames per model call; 0: auto (1 on CPU, 2 on CUDA)
    device: auto              # auto | cpu | cuda | cuda:N
    stages:                   # applied in order; names from `streamdeblur info`
      - deblur:
          model: deeprftv2-t
          tile: 0             # 0: whole frames when they fit
    output:
      codec: auto             # auto: VP9 for .webm, H.264 otherwise
      crf: 18

Files are read with ``yaml.safe_load`` semantics (no Python objects). Every mapping key is
checked against the dataclass it fills; a wrong key or type raises :class:`ConfigError` such as
``motion.yaml:7: stage 'deblur': unknown key 'tiles'; allowed: feather, kernel_size, …``.
Every number is range-checked against :mod:`~streamdeblur.engine.limits`, the table the command
line and the Python API check too. Command-line flags and API overrides replace keys of the file
(:func:`apply_overrides`), checked the same way.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, one_line
from ..stages import list_stages as _list_stages
from ..stages import stage_class
from .limits import check_tiling, check_value


@dataclass
class OutputConfig:
    codec: str = "auto"  #: an FFmpeg encoder, or auto: chosen from the output container (io.sinks.encoders)
    crf: int = 18
    preset: str = "medium"
    chroma: str = "auto"  #: chroma subsampling written: auto (the source's where the encoder can), 420, 422, 444
    audio: bool = True
    keep_partial: bool = True


@dataclass
class StageSpec:
    name: str
    options: dict[str, Any] = field(default_factory=dict)
    line: int = 0


@dataclass
class PipelineConfig:
    description: str = ""
    batch: int = 0  #: frames per model call; 0: auto (:func:`~streamdeblur.compute.runtime.auto_batch`)
    device: str = "auto"
    threads: int = 0  #: torch intra-op threads (0: leave as is)
    bf16: bool | None = None  #: bfloat16 autocast; None: auto (:func:`~streamdeblur.compute.runtime.auto_bf16`)
    strict: bool = False
    preview: bool = False
    overlay: bool = True  #: live preview: statistics overlay (fps, latency, drops) at the start; ``o`` toggles it
    stages: list[StageSpec] = field(default_factory=list)
    output: OutputConfig = field(default_factory=OutputConfig)
    source: str = ""  #: file the config came from
    overridden: set[str] = field(default_factory=set, repr=False)  #: keys set by flags or API overrides


_TOP_KEYS = {f.name for f in dataclasses.fields(PipelineConfig)} - {"source", "overridden"}


def builtin_dir():
    """Folder of the pipelines shipped with the package (the repository's ``pipelines/``)."""
    return resources.files("streamdeblur.pipelines")


def list_pipelines() -> list[str]:
    """Names of the shipped pipelines."""
    return sorted(p.name[:-5] for p in builtin_dir().iterdir() if p.name.endswith(".yaml"))


def resolve(name_or_path: str) -> tuple[str, str, Path | None]:
    """(text, filename, folder) of a pipeline given by shipped name or path (folder None: a shipped one).

    A shipped name (``motion``) is the shipped pipeline even where the current folder holds a file or
    folder of that name (a folder ``motion/`` there failed every run, the default one too: "pipeline
    file not found: motion"); ``./motion`` names the file.
    """
    if not name_or_path.strip():
        raise ConfigError(f"no pipeline given (an empty name); shipped: {', '.join(list_pipelines())} (or give a .yaml path)")
    p = Path(name_or_path)
    written_as_path = p.suffix in (".yaml", ".yml") or any(sep in name_or_path for sep in ("/", os.sep))
    shipped = not written_as_path and builtin_dir().joinpath(f"{name_or_path}.yaml").is_file()
    if written_as_path or (not shipped and p.exists()):
        if p.is_dir():
            raise ConfigError(f"{name_or_path} is a folder, not a pipeline file")
        if not p.is_file():
            stem = p.name[: -len(p.suffix)] if p.suffix in (".yaml", ".yml") else ""
            hint = f" (the shipped one is named without .yaml: {stem})" if stem in list_pipelines() else ""
            raise ConfigError(f"pipeline file not found: {name_or_path}{hint}")
        try:
            return p.read_text(encoding="utf-8"), str(p), p.parent
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{p}: not a YAML text file (byte {exc.start} is not UTF-8)") from None
        except OSError as exc:
            raise ConfigError(f"cannot read the pipeline file {p}: {exc.strerror or exc}") from None
    f = builtin_dir().joinpath(f"{name_or_path}.yaml")
    if not f.is_file():
        raise ConfigError(f"unknown pipeline {name_or_path!r}; shipped: {', '.join(list_pipelines())} (or give a .yaml path)")
    return f.read_text(encoding="utf-8"), f"{name_or_path}.yaml", None


def load_pipeline(name_or_path: str) -> PipelineConfig:
    """Load and validate a pipeline by shipped name (``motion``) or path."""
    text, filename, base = resolve(name_or_path)
    return parse_pipeline(text, filename, base=base)


def _err(filename: str, node: yaml.Node | None, msg: str) -> ConfigError:
    line = f":{node.start_mark.line + 1}" if node is not None else ""
    return ConfigError(f"{filename}{line}: {msg}")


def _scalar(node: yaml.Node):
    return yaml.SafeLoader("").construct_object(node, deep=True)


def _type_name(tp) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def _coerce(filename: str, node: yaml.Node, tp, where: str):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        value = _scalar(node)
        if value is None:
            return None
        tp = args[0]
    if not isinstance(node, yaml.ScalarNode):
        raise _err(
            filename,
            node,
            f"{where}: expected {_type_name(tp)}, got a {'list' if isinstance(node, yaml.SequenceNode) else 'mapping'}",
        )
    value = _scalar(node)
    if tp is str and isinstance(value, bool):  # `guard: off` as the comments write it: YAML reads false
        return str(node.value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(node.value)  # as written: a label `1:30` is YAML 1.1's sexagesimal 90, `1.50` the float 1.5
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise _err(filename, node, f"{where}: expected {_type_name(tp)}, got {value!r}")
    return value


def _fill(filename: str, node: yaml.Node, cls, where: str, owner: str = "") -> dict[str, Any]:
    """Validate a mapping node against dataclass ``cls``; returns field values."""
    if not isinstance(node, yaml.MappingNode):
        raise _err(filename, node, f"{where}: expected a mapping of keys")
    hints = typing.get_type_hints(cls)
    allowed = [f.name for f in dataclasses.fields(cls)]
    out: dict[str, Any] = {}
    seen: dict[Any, yaml.Node] = {}
    for knode, vnode in node.value:
        key = _scalar(knode)
        _once(filename, knode, key, seen, where)
        if key not in allowed:
            raise _err(filename, knode, f"{where}: unknown key {key!r}; allowed: {', '.join(sorted(allowed)) or '(none)'}")
        out[key] = _coerce(filename, vnode, hints[key], f"{where}: key {key!r}")
        _check(filename, vnode, key, out[key], owner, where)
    return out


def _once(filename: str, knode: yaml.Node, key: Any, seen: dict, where: str = "") -> None:
    """A key given twice in one mapping is an error: YAML loaders keep the last silently, so a second
    ``output:`` dropped the first one's settings and a second ``stages:`` a stage, without a word. A key
    that is a list or a mapping (``? [a, b]``) is one line too (it was Python's "unhashable type: 'list'", exit 1)."""
    if not isinstance(knode, yaml.ScalarNode):
        raise _err(filename, knode, f"{where + ': ' if where else ''}a key must be a name, not a list or mapping")
    if key in seen:
        first = seen[key].start_mark.line + 1
        raise _err(filename, knode, f"{where + ': ' if where else ''}key {key!r} is given twice (first on line {first})")
    seen[key] = knode


def _check(filename: str, node: yaml.Node, key: str, value: Any, owner: str = "", where: str = "") -> None:
    """Range-check one value (see :mod:`~streamdeblur.engine.limits`); the error names the file and line."""
    try:
        check_value(key, value, owner)
    except ValueError as exc:
        raise _err(filename, node, f"{where}: {exc}" if where else str(exc)) from None


def parse_pipeline(text: str, filename: str = "<pipeline>", base: Path | None = None) -> PipelineConfig:
    """Validate pipeline YAML text (see the module docstring for the schema).

    Args:
        text: the YAML.
        filename: named in errors.
        base: the folder of the file: a relative ``weights:`` or ``guard:`` file is looked for there
            first (a pipeline kept together with its weights works from any current folder), then in
            the current folder; ``~`` is expanded. None: the current folder only.
    """
    try:
        return _parse(text, filename, base)
    except yaml.YAMLError as exc:  # e.g. a !!python/object tag: safe loading refuses to build it
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or one_line(exc)
        raise ConfigError(f"{filename}{line}: {problem}") from None


_MERGE = "tag:yaml.org,2002:merge"


def _merge_keys(node: yaml.Node, done: set[int] | None = None) -> None:
    """Resolve YAML merge keys (``<<: *anchor``) in the composed tree, as ``yaml.safe_load`` does: the anchor's
    keys come in where the mapping does not give them itself (they are then not "given twice"). Only
    the pipeline's own keys are checked after this, with the lines they are on."""
    done = set() if done is None else done
    if id(node) in done:
        return
    done.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _merge_keys(item, done)
        return
    if not isinstance(node, yaml.MappingNode):
        return
    own = [(k, v) for k, v in node.value if k.tag != _MERGE]
    merged: list[tuple[yaml.Node, yaml.Node]] = []
    for k, v in node.value:
        if k.tag != _MERGE:
            continue
        for src in v.value if isinstance(v, yaml.SequenceNode) else [v]:
            if not isinstance(src, yaml.MappingNode):
                raise yaml.constructor.ConstructorError(None, None, "a merge key (<<) takes a mapping", src.start_mark)
            _merge_keys(src, done)
            merged += src.value
    for _, v in own:
        _merge_keys(v, done)
    if merged:
        given = {k.value for k, _ in own if isinstance(k, yaml.ScalarNode)}
        taken: set = set()
        extra = []
        for k, v in merged:  # the first anchor that gives a key wins, as in YAML's merge
            if isinstance(k, yaml.ScalarNode) and k.value not in given and k.value not in taken:
                taken.add(k.value)
                extra.append((k, v))
        node.value = extra + own


def _parse(text: str, filename: str, base: Path | None = None) -> PipelineConfig:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or one_line(exc)
        raise ConfigError(f"{filename}{line}: invalid YAML: {problem}") from None
    if root is None:
        raise ConfigError(f"{filename}: empty pipeline file")
    _merge_keys(root)
    if not isinstance(root, yaml.MappingNode):
        raise _err(filename, root, "a pipeline must be a mapping with keys like 'stages' and 'output'")
    cfg = PipelineConfig(source=filename)
    hints = typing.get_type_hints(PipelineConfig)
    seen: dict[Any, yaml.Node] = {}
    for knode, vnode in root.value:
        key = _scalar(knode)
        _once(filename, knode, key, seen)
        if key not in _TOP_KEYS:
            raise _err(filename, knode, f"unknown key {key!r}; allowed: {', '.join(sorted(_TOP_KEYS))}")
        if key == "stages":
            cfg.stages = _parse_stages(filename, vnode, base)
        elif key == "output":
            cfg.output = OutputConfig(**_fill(filename, vnode, OutputConfig, "output"))
        else:
            setattr(cfg, key, _coerce(filename, vnode, hints[key], f"key {key!r}"))
            _check(filename, vnode, key, getattr(cfg, key))
    if not cfg.stages:
        raise ConfigError(f"{filename}: 'stages' is missing or empty; allowed stages: {', '.join(_list_stages())}")
    return cfg


#: Stage options that name a file, and the words they take that are not files.
PATH_OPTIONS = {"weights": ("default", "none", "random"), "guard": ("auto", "off")}


def _file_option(filename: str, node: yaml.Node, key: str, value: str, base: Path | None) -> str:
    """A file named in a pipeline: ``~`` expanded, a relative name found beside the pipeline file
    first, then in the current folder; neither: an error naming the file's line and where it looked."""
    if value in PATH_OPTIONS[key] or not value.strip():
        return value
    p = Path(value).expanduser()
    what = "weights file" if key == "weights" else "do-no-harm gate"
    if p.is_absolute():
        if not p.exists():
            raise _err(filename, node, f"{what} not found: {value}")
        return str(p)
    # absolute from here: the same pipeline file names the same files from any folder (a batch's resume
    # key holds the path: the same YAML given from another folder redid every file)
    if base is not None and (base / p).exists():
        return os.path.abspath(base / p)
    if p.exists():
        return os.path.abspath(p)
    if base is None:
        return str(p)
    where = "beside the pipeline file"
    if base not in (Path(""), Path(".")):
        where = f"in {base}/ ({where}) or the current folder"
    raise _err(filename, node, f"{what} not found: {value} (looked {where})")


def _parse_stages(filename: str, node: yaml.Node, base: Path | None = None) -> list[StageSpec]:
    if not isinstance(node, yaml.SequenceNode):
        raise _err(filename, node, "'stages' must be a list, e.g. '- deblur: {model: deeprftv2-t}'")
    specs = []
    for item in node.value:
        if isinstance(item, yaml.ScalarNode):
            name, opts_node = _scalar(item), None
        elif isinstance(item, yaml.MappingNode) and len(item.value) == 1:
            knode, opts_node = item.value[0]
            name = _scalar(knode)
        else:
            raise _err(filename, item, "each stage is a name, or a one-key mapping 'name: {options}'")
        try:
            cls = stage_class(str(name))
        except KeyError:
            raise _err(filename, item, f"unknown stage {name!r}; allowed: {', '.join(_list_stages())}") from None
        opts: dict[str, Any] = {}
        if opts_node is not None and not (isinstance(opts_node, yaml.ScalarNode) and _scalar(opts_node) is None):
            opts = _fill(filename, opts_node, cls.Options, f"stage {name!r}", owner=str(name))
            for knode, vnode in opts_node.value:
                key = _scalar(knode)
                if key in PATH_OPTIONS and isinstance(opts.get(key), str):
                    opts[key] = _file_option(filename, vnode, key, opts[key], base)
        spec = StageSpec(str(name), opts, item.start_mark.line + 1)
        try:
            check_stage(spec)
        except ValueError as exc:
            raise _err(filename, item, f"stage {name!r}: {exc}") from None
        if cls.once and any(s.name == spec.name for s in specs):
            raise _err(filename, item, f"stage {name!r} is given twice: a pipeline has one (its output is one view)")
        if cls.requires and not cls.requires & set().union(*(stage_class(s.name).provides for s in specs)):
            # kernel_overlay with no model stage before it ran and drew nothing, silently (audit 19)
            makers = " or ".join(n for n in _list_stages() if stage_class(n).provides & cls.requires)
            raise _err(filename, item, f"stage {name!r} draws what a {makers} stage before it estimates: put one before it")
        specs.append(spec)
    return specs


def check_stage(spec: StageSpec) -> None:
    """Checks across a stage's options (``ValueError``): tiles overlap by less than half a tile."""
    fields = {f.name: f.default for f in dataclasses.fields(stage_class(spec.name).Options)}
    if "tile" in fields and "overlap" in fields:
        check_tiling(spec.options.get("tile", fields["tile"]), spec.options.get("overlap", fields["overlap"]))


#: Overrides that set pipeline keys, output keys and stage options (first stage whose options have the field).
PIPELINE_KEYS = ("batch", "device", "threads", "bf16", "strict", "preview", "overlay")
OUTPUT_KEYS = ("codec", "crf", "preset", "chroma", "keep_partial")
STAGE_FLAGS = ("model", "weights", "tile", "overlap", "guard")
OVERRIDES = (*PIPELINE_KEYS, *OUTPUT_KEYS, *STAGE_FLAGS, "no_audio")


def apply_overrides(cfg: PipelineConfig, **overrides: Any) -> PipelineConfig:
    """Replace pipeline keys with command-line flags or API overrides, checked like the YAML file.

    Args:
        cfg: the pipeline (changed in place).
        overrides: values by name (:data:`OVERRIDES`); ``None`` means not given.

    Returns:
        ``cfg``.

    Raises:
        ConfigError: an unknown name, a value of the wrong type or out of range, or an option no
            stage of the pipeline has.
    """
    unknown = sorted(set(overrides) - set(OVERRIDES))
    if unknown:
        raise ConfigError(f"unknown override {unknown[0]!r}; allowed: {', '.join(sorted(OVERRIDES))}")
    given = {k: v for k, v in overrides.items() if v is not None}
    hints = {**typing.get_type_hints(PipelineConfig), **typing.get_type_hints(OutputConfig)}
    for key, value in given.items():
        _check_override(key, value, hints.get(key))
    for key in PIPELINE_KEYS:
        if key in given:
            setattr(cfg, key, given[key])
    for key in OUTPUT_KEYS:
        if key in given:
            setattr(cfg.output, key, given[key])
    if given.get("no_audio"):
        cfg.output.audio = False
    for key in STAGE_FLAGS:
        if key not in given:
            continue
        for spec in cfg.stages:
            if key in {f.name for f in dataclasses.fields(stage_class(spec.name).Options)}:
                spec.options[key] = given[key]
                break
        else:
            raise ConfigError(f"{key} does not apply: no stage of this pipeline has a {key!r} option")
    if given.get("tile") and "overlap" not in given:
        # --tile alone smaller than the pipeline's overlap allows (64 with the shipped overlap 32 was refused
        # over a value the user never typed): that overlap shrinks to a quarter of the tile
        for spec in cfg.stages:
            fields = {f.name: f.default for f in dataclasses.fields(stage_class(spec.name).Options)}
            if "overlap" in fields and spec.options.get("tile") == given["tile"]:
                if 2 * spec.options.get("overlap", fields["overlap"]) >= given["tile"]:
                    spec.options["overlap"] = given["tile"] // 4
    for spec in cfg.stages:
        try:
            check_stage(spec)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    cfg.overridden |= set(given)
    return cfg


def _check_override(key: str, value: Any, tp) -> None:
    """Type and range of one override (stage options are typed by the stages: int, str)."""
    if tp is None:
        tp = {"tile": int, "overlap": int, "model": str, "weights": str, "guard": str, "no_audio": bool}.get(key)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if key == "weights" and isinstance(value, Path):
        return
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return
    if tp is not None and (not isinstance(value, tp) or (tp is int and isinstance(value, bool))):
        raise ConfigError(f"{key} must be {_type_name(tp)}, got {value!r}")
    try:
        check_value(key, value)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
