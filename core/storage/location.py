"""Where model files, published files and reports live: a local folder (a plain path or a
`file://` URL, written exactly as before: temporary name, then rename) or any fsspec URL
(`s3://bucket/prefix`, `gs://...`, `memory://...`) that every machine of a cluster can reach.

A `Location` is a small picklable value (URL and storage options), so it travels to Dask
workers with the configuration; the filesystem client is made where it is used. Credentials
never go into it: fsspec and the object store's own client read them from the environment
(`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`, an instance role, `FSSPEC_S3_*`).

Remote writes keep the local guarantees where the store allows: an object is written by one
PUT (a reader sees the old object or the new one, never half); several files that belong
together are uploaded to temporary keys first and moved into place only when all are there
(`replace_many`), the manifest last.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from candlecast.core.errors import StorageError
from candlecast.core.storage.atomic import sha256_file, temp_sibling, write_atomic

# Object stores: one PUT replaces an object whole, so a file is written straight to its key.
OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory"})
# Options that are credentials: they belong in the environment, never in a configuration file.
SECRET_OPTIONS = frozenset(
    {"key", "secret", "token", "password", "aws_secret_access_key", "aws_session_token"}
)


def is_url(value: str | os.PathLike[str]) -> bool:
    """Whether `value` names a remote location (a URL with a scheme other than `file`)."""
    text = os.fspath(value)
    scheme = urlsplit(text).scheme if "://" in text else ""
    return bool(scheme) and scheme != "file"


def local_form(value: str | os.PathLike[str]) -> str | Path:
    """A plain path or `file://` URL as a Path; any other URL as it is (its trailing `/` off)."""
    text = os.fspath(value)
    if is_url(text):
        return text.rstrip("/")
    if text.startswith("file://"):
        return Path(urlsplit(text).path)
    return Path(text)


@dataclass(frozen=True)
class Location:
    """A file or folder, local or remote. `Location.of(...)` builds one; `/` descends."""

    url: str
    options: tuple[tuple[str, Any], ...] = field(default=(), compare=False)

    @classmethod
    def of(
        cls, value: str | os.PathLike[str] | Location, options: Mapping[str, Any] | None = None
    ) -> Location:
        if isinstance(value, Location):
            return value if options is None else cls(value.url, _frozen(options))
        form = local_form(value)
        return cls(str(form), _frozen(options or {}))

    # -- naming -------------------------------------------------------------------------------

    @property
    def is_local(self) -> bool:
        return not is_url(self.url)

    @property
    def path(self) -> Path:
        """The local path (only for a local location)."""
        if not self.is_local:
            raise StorageError(f"{self.url!r} is not a local path")
        return Path(self.url)

    @property
    def protocol(self) -> str:
        return "file" if self.is_local else urlsplit(self.url).scheme

    @property
    def name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    def __truediv__(self, part: str) -> Location:
        if self.is_local:
            return Location(str(Path(self.url) / part), self.options)
        return Location(f"{self.url.rstrip('/')}/{part.strip('/')}", self.options)

    def with_suffix(self, suffix: str) -> Location:
        if self.is_local:
            return Location(str(Path(self.url).with_suffix(suffix)), self.options)
        head, _, tail = self.url.rpartition("/")
        stem = tail.rsplit(".", 1)[0] if "." in tail else tail
        return Location(f"{head}/{stem}{suffix}", self.options)

    def __str__(self) -> str:
        return self.url

    def __fspath__(self) -> str:  # a local location is usable wherever a path is
        return str(self.path)

    # -- the filesystem ------------------------------------------------------------------------

    def _fs(self) -> tuple[Any, str]:
        import fsspec

        try:
            return fsspec.core.url_to_fs(self.url, **dict(self.options))
        except (ImportError, ValueError) as exc:
            raise StorageError(
                f"cannot open {self.url!r}: {exc} (install the client of "
                f"'{self.protocol}://', e.g. `pip install candlecast[s3]` for s3fs)"
            ) from None

    def _fail(self, what: str, exc: BaseException) -> StorageError:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return StorageError(f"could not {what} {self.url!r}: {reason}")

    def exists(self) -> bool:
        if self.is_local:
            return self.path.exists()
        fs, path = self._fs()
        try:
            fs.invalidate_cache(path)  # another machine may have written it since
            return bool(fs.exists(path))
        except OSError as exc:
            raise self._fail("reach", exc) from exc

    def is_file(self) -> bool:
        if self.is_local:
            return self.path.is_file()
        fs, path = self._fs()
        try:
            fs.invalidate_cache(path)  # another machine may have written it since
            return bool(fs.isfile(path))
        except OSError as exc:
            raise self._fail("reach", exc) from exc

    def read_bytes(self) -> bytes:
        if self.is_local:
            return self.path.read_bytes()
        fs, path = self._fs()
        try:
            return bytes(fs.cat_file(path))
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise self._fail("read", exc) from exc

    def read_text(self) -> str:
        return self.read_bytes().decode("utf-8")

    def sha256(self) -> str:
        if self.is_local:
            return sha256_file(self.path)
        return hashlib.sha256(self.read_bytes()).hexdigest()

    def version(self) -> str:
        """A token that changes whenever the content may have: size and modification time (an
        object store's ETag where it gives one). One metadata request, no download."""
        if self.is_local:
            stat = self.path.stat()
            return f"{stat.st_size}-{stat.st_mtime_ns}"
        fs, path = self._fs()
        try:
            fs.invalidate_cache(path)  # another machine may have written it since
            info = fs.info(path)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise self._fail("reach", exc) from exc
        keys = ("ETag", "etag", "LastModified", "mtime", "last_modified")
        tag = next((str(info[k]) for k in keys if info.get(k)), "")
        return f"{info.get('size')}-{tag}"

    def size(self) -> int:
        if self.is_local:
            return self.path.stat().st_size
        fs, path = self._fs()
        return int(fs.size(path))

    # -- writing -------------------------------------------------------------------------------

    def write_text(self, text: str) -> Location:
        """`text` at this location, atomically (a temporary name then a rename, or one PUT)."""
        return self.write_bytes(text.encode("utf-8"))

    def write_bytes(self, data: bytes) -> Location:
        if self.is_local:
            write_atomic(self.path, lambda tmp: tmp.write_bytes(data))
            return self
        fs, path = self._fs()
        try:
            if self.protocol in OBJECT_STORES:
                fs.pipe_file(path, data)
            else:
                tmp = _temp_key(path)
                fs.pipe_file(tmp, data)
                _move(fs, self.protocol, tmp, path)
        except OSError as exc:
            raise self._fail("write", exc) from exc
        return self

    def upload(self, local: Path) -> Location:
        """The local file `local` copied to this location, atomically."""
        if self.is_local:
            write_atomic(self.path, lambda tmp: shutil.copyfile(local, tmp))
            return self
        fs, path = self._fs()
        try:
            if self.protocol in OBJECT_STORES:
                fs.put_file(str(local), path)
            else:
                tmp = _temp_key(path)
                fs.put_file(str(local), tmp)
                _move(fs, self.protocol, tmp, path)
        except OSError as exc:
            raise self._fail("write", exc) from exc
        return self

    def replace_many(self, files: Mapping[str, Path], last: str | None = None) -> None:
        """Put the local `files` (name -> path) into this folder: every one is uploaded under a
        temporary key first; only when all are complete are they moved into place, `last` (a
        manifest) after the others. A failure while uploading leaves the folder as it was and
        removes what it uploaded."""
        if self.is_local:
            raise StorageError("replace_many is for remote folders; local ones use atomic_path")
        fs, root = self._fs()
        staged: dict[str, str] = {}
        try:
            for name, local in files.items():
                tmp = _temp_key(f"{root}/{name}")
                staged[name] = tmp
                fs.put_file(str(local), tmp)
            for name in sorted(staged, key=lambda n: n == last):
                _move(fs, self.protocol, staged[name], f"{root}/{name}")
                del staged[name]
        except OSError as exc:
            raise self._fail("write", exc) from exc
        finally:
            for tmp in staged.values():
                with contextlib.suppress(OSError):
                    fs.rm_file(tmp)

    def remove(self) -> None:
        """Remove this file if it is there."""
        if self.is_local:
            self.path.unlink(missing_ok=True)
            return
        fs, path = self._fs()
        with contextlib.suppress(FileNotFoundError):
            fs.rm_file(path)

    @contextlib.contextmanager
    def local_copy(self) -> Iterator[Path]:
        """A local path holding this file's bytes: the file itself when it is local, else a
        download into a temporary folder removed afterwards."""
        if self.is_local:
            yield self.path
            return
        with tempfile.TemporaryDirectory(prefix="candlecast-") as folder:
            target = Path(folder) / self.name
            fs, path = self._fs()
            try:
                fs.get_file(path, str(target))
            except FileNotFoundError:
                raise
            except OSError as exc:
                raise self._fail("read", exc) from exc
            yield target


def _frozen(options: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((str(k), _hashable(v)) for k, v in options.items()))


def _hashable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    return value


def _temp_key(path: str) -> str:
    """A temporary key beside `path`, named as local temporary files are."""
    return temp_sibling(Path(path)).as_posix()


def _move(fs: Any, protocol: str, source: str, target: str) -> None:
    """`source` to `target`: an object store copies server-side (the target object is replaced
    whole) and deletes the source; a filesystem renames."""
    if protocol in OBJECT_STORES:
        fs.cp_file(source, target)
        fs.rm_file(source)
    else:
        fs.mv(source, target)
