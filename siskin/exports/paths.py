"""Where an export may write: inside one of the configured roots, whatever the spec's path says."""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass

from siskin.config import ExportSpec, Settings
from siskin.errors import ConfigurationError

SPEC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=-]{0,127}$")  # no `..`, no leading `_` (reserved), no `/`
SCHEMES = ("file", "s3")


@dataclass(frozen=True)
class Target:
    """One night's export location: `root` (allowed), `base` (the spec's folder) and `night` folder."""

    root: str  # normalised root URI: file:///abs/path or s3://bucket/prefix
    base: str  # root + "/" + the spec's relative path
    night_dir: str  # base + "/night=<N>"

    @property
    def local(self) -> bool:
        return self.root.startswith("file://")


def normalise_root(text: str) -> str:
    """A root as `file:///absolute` or `s3://bucket/prefix`, without `..` or a trailing slash."""
    text = text.strip()
    if "://" not in text:
        if not os.path.isabs(text):
            raise ConfigurationError(f"export root {text!r} must be an absolute path, file:// or s3:// URI")
        text = "file://" + text
    scheme, rest = text.split("://", 1)
    if scheme not in SCHEMES:
        raise ConfigurationError(f"export root {text!r}: scheme {scheme!r} is not supported (file://, s3://)")
    if scheme == "file":
        if not rest.startswith("/"):
            raise ConfigurationError(f"export root {text!r} must be an absolute file:// path")
        path = posixpath.normpath(rest)
        return "file://" + path.rstrip("/") if path != "/" else "file:///"
    parts = [p for p in rest.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise ConfigurationError(f"export root {text!r} needs a bucket and no `.`/`..` segments")
    return "s3://" + "/".join(parts)


def roots(settings: Settings) -> dict[str, str]:
    """The configured roots by name, normalised; `default` is `<lake>/_exports` unless configured."""
    configured = dict(settings.exports.roots)
    configured.setdefault("default", f"{settings.lake_uri}/_exports")
    return {name: normalise_root(uri) for name, uri in configured.items()}


def check_spec_name(name: str) -> None:
    """Spec names become folder names: letters, digits, `_ . -` only."""
    if not SPEC_NAME.match(name) or ".." in name:
        raise ConfigurationError(f"export spec name {name!r} must match {SPEC_NAME.pattern} without '..'")


def relative_path(spec_name: str, spec: ExportSpec) -> str:
    """The spec's folder under its root: plain relative segments only (no `..`, absolute path or URI)."""
    text = spec.path if spec.path is not None else spec_name
    if "://" in text or text.startswith(("/", "~")) or "\\" in text or "\x00" in text:
        raise ConfigurationError(f"export spec {spec_name!r}: path {text!r} must be relative to its root")
    segments = [s for s in text.split("/") if s]
    bad = [s for s in segments if not SEGMENT.match(s) or s in (".", "..") or ".." in s]
    if not segments or bad:
        raise ConfigurationError(
            f"export spec {spec_name!r}: path {text!r} may hold only plain folder names "
            f"(letters, digits, _ . = -; not starting with _ or .; no '..'); refused: {bad or ['(empty)']}"
        )
    return "/".join(segments)


def target(settings: Settings, spec_name: str, spec: ExportSpec, night: int) -> Target:
    """The night's export folder, proven to lie inside the spec's configured root."""
    check_spec_name(spec_name)
    known = roots(settings)
    if spec.root not in known:
        raise ConfigurationError(
            f"export spec {spec_name!r}: unknown root {spec.root!r}; roots: {', '.join(sorted(known))}"
        )
    root = known[spec.root]
    base = f"{root.rstrip('/')}/{relative_path(spec_name, spec)}"
    night_dir = f"{base}/night={int(night)}"
    _, root_path = root.split("://", 1)
    _, night_path = night_dir.split("://", 1)
    if posixpath.normpath(night_path) != night_path or not night_path.startswith(root_path.rstrip("/") + "/"):
        raise ConfigurationError(f"export spec {spec_name!r}: {night_dir} is outside its root {root}")
    if root.startswith("file://"):
        _inside_after_links(root_path, night_path, spec_name)
    return Target(root=root, base=base, night_dir=night_dir)


def _inside_after_links(root_path: str, path: str, spec_name: str) -> None:
    """A symbolic link below the root must not lead the export outside it."""
    real_root = os.path.realpath(root_path)
    probe = path
    while not os.path.lexists(probe) and probe not in ("/", root_path):
        probe = os.path.dirname(probe)
    real = os.path.realpath(probe)
    if real != real_root and not real.startswith(real_root.rstrip("/") + "/"):
        raise ConfigurationError(f"export spec {spec_name!r}: {path} leads outside {root_path} (link)")
