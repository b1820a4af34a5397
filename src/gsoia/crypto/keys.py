"""A node's keys: Ed25519 to sign, X25519 to be sealed to, AES-256 to store.

On disk, in one directory (``gsoia`` never writes them anywhere else):

* ``signing.key``: the Ed25519 private key, unencrypted PEM PKCS#8
  (``-----BEGIN PRIVATE KEY-----``), readable by ``openssl pkey``;
* ``sealing.key``: the X25519 private key, same format — PEM names the algorithm, so the
  two files cannot be swapped unnoticed;
* ``storage.key``: the 32 raw bytes of the AES-256 key that wraps each item's key.

Each file is created with ``O_CREAT | O_EXCL`` and mode 0600, so it is never readable by
anyone else, not even for an instant, and an existing key is never overwritten. ``load``
refuses a file that group or others may read, write or execute, as OpenSSH does.

The public half (``PublicKeys``) is what a node publishes at ``/.well-known/gsoia``
(docs/interfaces.md, Federation); its ``fingerprint`` is what officers compare by voice.

Rotation (``gsoia keys rotate``) replaces the signing and sealing keys (the storage key
stays: it only wraps item keys at rest). The new keys are first written to ``next/``
(``stage_rotation``); once the node's database has recorded the rotation,
``finish_rotation`` moves them in place, keeping the old signing key as
``retiring-signing.key`` until every peer has been told (the notice of a rotation is
signed by the old key); ``drop_retiring`` then deletes it. Each step can be repeated
after a crash: ``finish_rotation`` completes whatever was left.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gsoia.crypto.aead import KEY_SIZE, new_key
from gsoia.crypto.errors import CryptoError, KeyFileError

__all__ = [
    "NEXT_DIR",
    "RETIRING_FILE",
    "SEALING_FILE",
    "SIGNING_FILE",
    "STORAGE_FILE",
    "NodeKeys",
    "PublicKeys",
    "drop_retiring",
    "finish_rotation",
    "load_retiring",
    "load_staged",
    "stage_rotation",
]

SIGNING_FILE = "signing.key"
SEALING_FILE = "sealing.key"
STORAGE_FILE = "storage.key"
NEXT_DIR = "next"
RETIRING_FILE = "retiring-signing.key"

_PUBLIC_SIZE = 32
_MAX_KEY_FILE = 16 * 1024
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


@dataclass(frozen=True)
class PublicKeys:
    """A node's public keys, 32 raw bytes each.

    Raises:
        CryptoError: a key is not 32 bytes.
    """

    signing: bytes
    sealing: bytes

    def __post_init__(self) -> None:
        for name, raw in (("signing", self.signing), ("sealing", self.sealing)):
            if not isinstance(raw, bytes) or len(raw) != _PUBLIC_SIZE:
                raise CryptoError(f"public keys: {name} must be {_PUBLIC_SIZE} raw bytes")

    def fingerprint(self) -> str:
        """The first 16 bytes of SHA-256(signing || sealing), as ``"3f2a:91bc:…"`` (8 groups)."""
        hexed = hashlib.sha256(self.signing + self.sealing).digest()[:16].hex()
        return ":".join(hexed[i : i + 4] for i in range(0, len(hexed), 4))

    def to_dict(self) -> dict[str, str]:
        """``{"signing": …, "sealing": …}``, each base64url without padding."""
        return {"signing": _b64url(self.signing), "sealing": _b64url(self.sealing)}

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> PublicKeys:
        """The keys ``to_dict`` gave; other members of ``d`` (the nation …) are ignored.

        Raises:
            CryptoError: a member is missing, not canonical base64url, or not 32 bytes.
        """
        if not isinstance(d, Mapping):
            raise CryptoError(f"public keys: expected an object, got {type(d).__name__}")
        return cls(
            signing=_b64url_decode(d, "signing"),
            sealing=_b64url_decode(d, "sealing"),
        )


@dataclass(frozen=True, eq=False)
class NodeKeys:
    """A node's private keys. Compared by identity; ``repr`` shows only the fingerprint.

    Raises:
        CryptoError: ``storage`` is not 32 bytes.
    """

    signing: Ed25519PrivateKey
    sealing: X25519PrivateKey
    storage: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.storage, bytes) or len(self.storage) != KEY_SIZE:
            raise CryptoError(f"the storage key must be {KEY_SIZE} bytes")

    def __repr__(self) -> str:
        return f"NodeKeys(fingerprint={self.public().fingerprint()!r})"

    @classmethod
    def generate(cls) -> NodeKeys:
        """Fresh keys from the OS CSPRNG."""
        return cls(Ed25519PrivateKey.generate(), X25519PrivateKey.generate(), new_key())

    def rotated(self) -> NodeKeys:
        """Fresh signing and sealing keys; the same storage key (it wraps stored items)."""
        return NodeKeys(Ed25519PrivateKey.generate(), X25519PrivateKey.generate(), self.storage)

    def public(self) -> PublicKeys:
        """The public halves, to publish."""
        return PublicKeys(
            signing=self.signing.public_key().public_bytes_raw(),
            sealing=self.sealing.public_key().public_bytes_raw(),
        )

    def save(self, directory: Path) -> None:
        """Write the three key files into ``directory`` (created 0700 if missing).

        Either all three files are written or none is left behind.

        Raises:
            KeyFileError: a key file already exists, or a file could not be written.
        """
        contents = {
            SIGNING_FILE: _pkcs8_pem(self.signing),
            SEALING_FILE: _pkcs8_pem(self.sealing),
            STORAGE_FILE: self.storage,
        }
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise KeyFileError(directory, f"cannot be created: {e.strerror or e}") from e
        for name in contents:
            path = directory / name
            if path.exists() or path.is_symlink():
                raise KeyFileError(path, "already exists; refusing to overwrite a key")
        written: list[Path] = []
        try:
            for name, data in contents.items():
                _write_new(directory / name, data)
                written.append(directory / name)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        _fsync_directory(directory)

    @classmethod
    def load(cls, directory: Path) -> NodeKeys:
        """Read the keys ``save`` wrote.

        Raises:
            KeyFileError: a key file is missing, not a regular file, accessible to group or
                others, or does not hold a key of its kind.
        """
        signing_path = directory / SIGNING_FILE
        signing = _load_private(signing_path, "Ed25519")
        if not isinstance(signing, Ed25519PrivateKey):
            raise _wrong_kind(signing_path, signing, "Ed25519")
        sealing_path = directory / SEALING_FILE
        sealing = _load_private(sealing_path, "X25519")
        if not isinstance(sealing, X25519PrivateKey):
            raise _wrong_kind(sealing_path, sealing, "X25519")
        storage_path = directory / STORAGE_FILE
        storage = _read_key_file(storage_path)
        if len(storage) != KEY_SIZE:
            raise KeyFileError(
                storage_path, f"holds {len(storage)} bytes, not a {KEY_SIZE}-byte AES-256 key"
            )
        return cls(signing, sealing, storage)


def stage_rotation(directory: Path, new: NodeKeys) -> None:
    """Write ``new``'s signing and sealing keys to ``directory/next/`` (mode 0600).

    Raises:
        KeyFileError: a rotation is staged already, or a file could not be written.
    """
    staged = directory / NEXT_DIR
    try:
        staged.mkdir(mode=0o700)
    except FileExistsError as e:
        raise KeyFileError(staged, "exists: a rotation was staged and not finished") from e
    except OSError as e:
        raise KeyFileError(staged, f"cannot be created: {e.strerror or e}") from e
    try:
        _write_new(staged / SIGNING_FILE, _pkcs8_pem(new.signing))
        _write_new(staged / SEALING_FILE, _pkcs8_pem(new.sealing))
    except BaseException:
        discard_staged(directory)
        raise
    _fsync_directory(staged)


def load_staged(directory: Path) -> PublicKeys | None:
    """The public keys of a staged rotation, or None if none is staged (or it is partial)."""
    staged = directory / NEXT_DIR
    if not (staged / SIGNING_FILE).exists() or not (staged / SEALING_FILE).exists():
        return None
    signing = _load_private(staged / SIGNING_FILE, "Ed25519")
    sealing = _load_private(staged / SEALING_FILE, "X25519")
    if not isinstance(signing, Ed25519PrivateKey) or not isinstance(sealing, X25519PrivateKey):
        raise KeyFileError(staged, "does not hold an Ed25519 and an X25519 private key")
    return PublicKeys(
        signing.public_key().public_bytes_raw(), sealing.public_key().public_bytes_raw()
    )


def discard_staged(directory: Path) -> None:
    """Delete a staged rotation that the database never recorded."""
    staged = directory / NEXT_DIR
    for name in (SIGNING_FILE, SEALING_FILE):
        (staged / name).unlink(missing_ok=True)
    if staged.exists():
        staged.rmdir()


def finish_rotation(directory: Path) -> None:
    """Put the staged keys in place; keep the old signing key as ``RETIRING_FILE``.

    The old sealing key is deleted. Safe to repeat after a crash at any step.

    Raises:
        KeyFileError: a file could not be moved.
    """
    staged = directory / NEXT_DIR
    try:
        if (staged / SIGNING_FILE).exists():
            if (directory / SIGNING_FILE).exists():
                os.replace(directory / SIGNING_FILE, directory / RETIRING_FILE)
            os.replace(staged / SIGNING_FILE, directory / SIGNING_FILE)
        if (staged / SEALING_FILE).exists():
            os.replace(staged / SEALING_FILE, directory / SEALING_FILE)
        if staged.exists():
            staged.rmdir()
    except OSError as e:
        raise KeyFileError(directory, f"rotation could not be finished: {e.strerror or e}") from e
    _fsync_directory(directory)


def load_retiring(directory: Path) -> Ed25519PrivateKey | None:
    """The old signing key kept until every peer learnt of a rotation, if there is one.

    Raises:
        KeyFileError: the file is exposed, or does not hold an Ed25519 private key.
    """
    path = directory / RETIRING_FILE
    if not path.exists():
        return None
    key = _load_private(path, "Ed25519")
    if not isinstance(key, Ed25519PrivateKey):
        raise _wrong_kind(path, key, "Ed25519")
    return key


def drop_retiring(directory: Path) -> None:
    """Delete the old signing key once no peer needs a notice signed by it."""
    (directory / RETIRING_FILE).unlink(missing_ok=True)
    _fsync_directory(directory)


def _pkcs8_pem(private: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    return private.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def _load_private(path: Path, algorithm: str) -> PrivateKeyTypes:
    data = _read_key_file(path)
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise KeyFileError(path, f"is not an unencrypted PEM PKCS#8 {algorithm} private key") from e


def _wrong_kind(path: Path, key: PrivateKeyTypes, algorithm: str) -> KeyFileError:
    return KeyFileError(path, f"holds a {type(key).__name__}, not an {algorithm} private key")


def _write_new(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 and write ``data``; never touch an existing file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError as e:
        raise KeyFileError(path, "already exists; refusing to overwrite a key") from e
    except OSError as e:
        raise KeyFileError(path, f"cannot be created: {e.strerror or e}") from e
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except OSError as e:
        os.close(fd)
        path.unlink(missing_ok=True)  # INVARIANT: O_EXCL made it ours
        raise KeyFileError(path, f"could not be written: {e.strerror or e}") from e
    os.close(fd)


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return  # not every platform opens directories; the files themselves are synced
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_key_file(path: Path) -> bytes:
    """The bytes of a private key file, once it is known to be private to its owner."""
    try:
        # O_NONBLOCK: a FIFO planted at the path must not hang the node.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError as e:
        raise KeyFileError(path, "is missing") from e
    except OSError as e:
        raise KeyFileError(path, f"cannot be opened: {e.strerror or e}") from e
    try:
        # fstat the open file, not the path: what is checked is what is read.
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise KeyFileError(path, "is not a regular file")
        mode = stat.S_IMODE(status.st_mode)
        if mode & 0o077:
            raise KeyFileError(path, f"is {_exposure(mode)} (mode {mode:04o}); chmod 600 it")
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, _MAX_KEY_FILE + 1 - size):
            chunks.append(chunk)
            size += len(chunk)
            if size > _MAX_KEY_FILE:
                raise KeyFileError(path, f"is larger than {_MAX_KEY_FILE} bytes: not a key")
        return b"".join(chunks)
    except OSError as e:
        raise KeyFileError(path, f"cannot be read: {e.strerror or e}") from e
    finally:
        os.close(fd)


def _exposure(mode: int) -> str:
    """``"readable by group and others"`` for 0644, ``"writable by others"`` for 0602 …"""
    how = [
        name
        for name, bits in (("readable", 0o044), ("writable", 0o022), ("executable", 0o011))
        if mode & bits
    ]
    who = [name for name, bits in (("group", 0o070), ("others", 0o007)) if mode & bits]
    return f"{' and '.join(how)} by {' and '.join(who)}"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_decode(d: Mapping[str, object], name: str) -> bytes:
    if name not in d:
        raise CryptoError(f"public keys: {name} is missing")
    text = d[name]
    if not isinstance(text, str):
        raise CryptoError(f"public keys: {name} must be a string, got {type(text).__name__}")
    if not _BASE64URL.fullmatch(text):
        raise CryptoError(f"public keys: {name} is not base64url without padding")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise CryptoError(f"public keys: {name} is not base64url without padding") from e
    if _b64url(raw) != text:
        raise CryptoError(f"public keys: {name} is not canonical base64url")
    if len(raw) != _PUBLIC_SIZE:
        raise CryptoError(f"public keys: {name} is {len(raw)} bytes, not {_PUBLIC_SIZE}")
    return raw
