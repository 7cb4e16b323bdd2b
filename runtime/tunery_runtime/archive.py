"""Extracting an uploaded model archive (tar, tar.gz, tar.bz2, tar.xz or zip) safely.

An archive comes from a user, so nothing in it is trusted:

- only regular files and directories are extracted: links, devices and FIFOs are refused;
- every member path must stay inside the destination (no absolute paths, no ``..``);
- the extracted total is bounded (``MAX_EXPANSION`` times the archive's size, which model
  weights never approach: they barely compress) and so is the member count, so a
  decompression bomb stops early instead of filling the disk; bytes are counted as they are
  written, not taken from the headers;
- the model directory is the root or the one directory holding ``config.json``.

Failures raise ``RuntimeFailure("model_load_failed", …)`` naming the member and the reason.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zipfile
from typing import IO, Iterator

from .errors import RuntimeFailure

MAX_EXPANSION = 20
MAX_MEMBERS = 10_000
CHUNK = 1 << 20


def _fail(message: str, hint: str | None = None) -> RuntimeFailure:
    return RuntimeFailure("model_load_failed", message, hint)


def _safe_relative(name: str) -> str:
    """The member's path relative to the destination, or a failure if it would leave it."""
    clean = name.replace("\\", "/")
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":") or ".." in parts:
        raise _fail(f"archive member '{name}' points outside the archive", "paths must be relative, without '..'")
    return "/".join(parts)


class _Budget:
    def __init__(self, archive_bytes: int) -> None:
        self.left = max(archive_bytes, 1) * MAX_EXPANSION + (64 << 20)
        self.limit = self.left

    def take(self, n: int, member: str) -> None:
        self.left -= n
        if self.left < 0:
            raise _fail(
                f"archive member '{member}': the archive expands to more than {self.limit} bytes "
                f"({MAX_EXPANSION}x its size); refusing a likely decompression bomb"
            )


def _copy(src: IO[bytes], dest_path: str, member: str, budget: _Budget) -> None:
    os.makedirs(os.path.dirname(dest_path), exist_ok=True)
    with open(dest_path, "xb") as out:
        while True:
            chunk = src.read(CHUNK)
            if not chunk:
                return
            budget.take(len(chunk), member)
            out.write(chunk)


def _tar_members(path: str, dest: str, budget: _Budget) -> Iterator[str]:
    with tarfile.open(path, mode="r:*") as tar:
        for count, m in enumerate(tar, start=1):
            if count > MAX_MEMBERS:
                raise _fail(f"the archive has more than {MAX_MEMBERS} members")
            rel = _safe_relative(m.name)
            if not rel:
                continue
            if m.isdir():
                os.makedirs(os.path.join(dest, rel), exist_ok=True)
            elif m.isfile():
                f = tar.extractfile(m)
                if f is None:  # pragma: no cover - regular files always have data
                    raise _fail(f"archive member '{m.name}' cannot be read")
                _copy(f, os.path.join(dest, rel), m.name, budget)
                yield rel
            else:
                kind = "a link" if (m.issym() or m.islnk()) else "not a regular file"
                raise _fail(f"archive member '{m.name}' is {kind}", "archive the model's files themselves")


def _zip_members(path: str, dest: str, budget: _Budget) -> Iterator[str]:
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        if len(infos) > MAX_MEMBERS:
            raise _fail(f"the archive has more than {MAX_MEMBERS} members")
        for info in infos:
            rel = _safe_relative(info.filename)
            if not rel:
                continue
            mode = info.external_attr >> 16
            if mode and stat.S_ISLNK(mode):
                raise _fail(f"archive member '{info.filename}' is a link", "archive the model's files themselves")
            if info.is_dir():
                os.makedirs(os.path.join(dest, rel), exist_ok=True)
                continue
            try:
                with z.open(info) as f:
                    _copy(f, os.path.join(dest, rel), info.filename, budget)
            except (zipfile.BadZipFile, EOFError, OSError) as e:
                if isinstance(e, FileExistsError):
                    raise _fail(f"archive member '{info.filename}' appears twice") from e
                raise _fail(f"archive member '{info.filename}' is corrupt: {e}") from e
            yield rel


def extract_model_archive(path: str, dest: str) -> str:
    """Extracts ``path`` into ``dest`` (created); returns the directory holding config.json."""
    size = os.path.getsize(path)
    budget = _Budget(size)
    os.makedirs(dest)
    try:
        if zipfile.is_zipfile(path):
            files = list(_zip_members(path, dest, budget))
        elif tarfile.is_tarfile(path):
            files = list(_tar_members(path, dest, budget))
        else:
            raise _fail(
                f"{os.path.basename(path)} is not a tar or zip archive", "upload a .tar, .tar.gz, .tgz, .tar.bz2, .tar.xz or .zip file"
            )
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as e:
        shutil.rmtree(dest, ignore_errors=True)
        raise _fail(f"the archive is corrupt or truncated: {e}") from e
    except FileExistsError as e:
        shutil.rmtree(dest, ignore_errors=True)
        raise _fail(f"archive member {e.filename} appears twice") from e
    except RuntimeFailure:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    # (the caller removes `dest` once the model is imported or refused)
    configs = sorted({os.path.dirname(f) for f in files if os.path.basename(f) == "config.json"}, key=lambda d: (d.count("/"), d))
    if not configs:
        raise _fail("the archive has no config.json", "archive a Hugging Face model directory (config.json, *.safetensors, tokenizer files)")
    if len(configs) > 1 and configs[0].count("/") == configs[1].count("/"):
        raise _fail(f"the archive holds several model directories ({', '.join(c or '.' for c in configs[:3])}); upload one model")
    return os.path.join(dest, configs[0]) if configs[0] else dest
