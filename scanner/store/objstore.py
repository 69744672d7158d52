"""Where a scan's files live: a local directory or an object store, through ``pyarrow.fs``.

What must live here: opening ``--out`` (a path, ``file://``, ``s3://bucket/prefix``
with pyarrow's URI options such as ``?endpoint_override=HOST:PORT&scheme=http``), and
the few file operations the scan needs, each with the semantics the stages rely on:

* ``write_bytes`` / ``open_output``: a file appears whole or not at all to readers.
  Locally that is a temporary name and ``os.replace`` (a rename on one file system);
  on object storage a PUT (or a multipart upload completed at close) is atomic per
  object, so nothing is ever renamed there (a rename is a copy on S3).
* commits are *manifests written last*: a stage's task writes its outputs, then one
  small ``.done`` object naming them; readers trust only what a manifest names.
* ``delete_dir`` removes a prefix (idempotent).

Credentials and endpoint come the way pyarrow and the AWS tools take them: the
``AWS_*`` environment variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL``) and the URI's query options.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from scanner.errors import DanescanError


class StoreError(DanescanError):
    """``--out`` (or a scan given to read) cannot be opened or written."""


def is_url(location: str) -> bool:
    return "://" in location


@dataclass(frozen=True)
class Store:
    """A root directory (local) or prefix (object store) and its file system."""

    fs: pafs.FileSystem
    root: str  # no trailing slash
    location: str  # what the user gave (with its URL options): how tasks reopen it
    shown: str = ""  # for messages: the location without its query string

    @property
    def local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, *parts: str) -> str:
        return "/".join([self.root, *(p.strip("/") for p in parts if p)])

    def local_path(self, *parts: str) -> Path:
        """The OS path of a file of a local store (for locks and fsync)."""
        assert self.local
        return Path(self.path(*parts))

    # -- reading ---------------------------------------------------------------------

    def exists(self, *parts: str) -> bool:
        info = self.fs.get_file_info(self.path(*parts))
        return bool(info.type != pafs.FileType.NotFound)

    def is_file(self, *parts: str) -> bool:
        return bool(self.fs.get_file_info(self.path(*parts)).type == pafs.FileType.File)

    def read_bytes(self, *parts: str) -> bytes | None:
        try:
            with self.fs.open_input_stream(self.path(*parts)) as f:
                data: bytes = f.read()
                return data
        except FileNotFoundError:
            return None
        except OSError as exc:
            if self.fs.get_file_info(self.path(*parts)).type == pafs.FileType.NotFound:
                return None
            raise StoreError(f"cannot read {self.describe(*parts)}: {exc}") from exc

    def read_json(self, *parts: str) -> Any:
        data = self.read_bytes(*parts)
        return None if data is None else json.loads(data)

    def list_files(self, *parts: str, suffix: str = "") -> list[str]:
        """Files under a directory (recursive), sorted; [] when it does not exist."""
        selector = pafs.FileSelector(self.path(*parts), allow_not_found=True, recursive=True)
        return sorted(
            info.path
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.File and info.path.endswith(suffix)
        )

    def list_dirs(self, *parts: str) -> list[str]:
        """Immediate sub-directory names of a directory."""
        selector = pafs.FileSelector(self.path(*parts), allow_not_found=True, recursive=False)
        return sorted(
            info.base_name
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.Directory
        )

    def describe(self, *parts: str) -> str:
        if self.local:
            return self.path(*parts)
        return f"{self.shown.rstrip('/')}/{'/'.join(parts)}".rstrip("/")

    # -- writing ---------------------------------------------------------------------

    def makedirs(self, *parts: str) -> None:
        if self.local:
            self.fs.create_dir(self.path(*parts), recursive=True)

    @contextlib.contextmanager
    def open_output(self, *parts: str) -> Iterator[pa.NativeFile]:
        """A file that appears under its name only when the block completes."""
        target = self.path(*parts)
        if not self.local:
            with self.fs.open_output_stream(target) as out:
                yield out
            return
        parent = os.path.dirname(target)
        os.makedirs(parent, exist_ok=True)
        tmp = f"{target}.{uuid.uuid4().hex[:8]}.inprogress"
        try:
            with self.fs.open_output_stream(tmp) as out:
                yield out
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def write_bytes(self, data: bytes, *parts: str) -> None:
        with self.open_output(*parts) as out:
            out.write(data)

    def write_json(self, value: Any, *parts: str) -> None:
        self.write_bytes(json.dumps(value, indent=2, sort_keys=True).encode(), *parts)

    def delete(self, *parts: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_file(self.path(*parts))

    def delete_dir(self, *parts: str) -> None:
        path = self.path(*parts)
        if self.fs.get_file_info(path).type == pafs.FileType.NotFound:
            return
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_dir(path)


def _endpoint_from_env(query: str) -> str:
    """pyarrow reads AWS_ENDPOINT_URL itself; it is spelled out here only when the URL
    has no endpoint, so that messages can name it."""
    return "" if "endpoint_override" in query else os.environ.get("AWS_ENDPOINT_URL", "")


def open_store(location: str | Path) -> Store:
    """Open ``--out`` or a scan location; raises ``StoreError`` with one line."""
    text = str(location)
    if not is_url(text) or text.startswith("file://"):
        path = Path(text[len("file://") :] if text.startswith("file://") else text).absolute()
        if path.exists() and not path.is_dir():
            raise StoreError(f"{path} exists and is not a directory")
        return Store(pafs.LocalFileSystem(), str(path).rstrip("/"), str(path), str(path))
    try:
        fs, root = pafs.FileSystem.from_uri(text)
    except (pa.ArrowInvalid, OSError, ValueError) as exc:
        raise StoreError(f"cannot open {text}: {exc}") from None
    endpoint = _endpoint_from_env(text.partition("?")[2])
    shown = text.split("?")[0] + (f" (endpoint {endpoint})" if endpoint else "")
    return Store(fs, root.rstrip("/"), text, shown)
