"""A node's key files and its published public keys."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gsoia.crypto import (
    CryptoError,
    KeyFileError,
    NodeKeys,
    PublicKeys,
    new_key,
    seal,
    sign,
    unseal,
    verify,
)
from gsoia.crypto.keys import SEALING_FILE, SIGNING_FILE, STORAGE_FILE
from gsoia.errors import GsoiaError

KEY_FILES = (SIGNING_FILE, SEALING_FILE, STORAGE_FILE)
FINGERPRINT = re.compile(r"[0-9a-f]{4}(:[0-9a-f]{4}){7}")


@pytest.fixture
def saved(tmp_path: Path) -> tuple[NodeKeys, Path]:
    keys = NodeKeys.generate()
    directory = tmp_path / "keys"
    keys.save(directory)
    return keys, directory


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# --- generate / public -------------------------------------------------------------------


def test_generate_makes_distinct_keys() -> None:
    first, second = NodeKeys.generate(), NodeKeys.generate()
    assert first.public() != second.public()
    assert first.storage != second.storage
    assert len(first.storage) == 32
    assert len(first.public().signing) == len(first.public().sealing) == 32


def test_the_repr_shows_no_secret() -> None:
    keys = NodeKeys.generate()
    text = repr(keys)
    assert keys.public().fingerprint() in text
    assert keys.storage.hex() not in text
    assert repr(keys.storage) not in text


def test_a_storage_key_must_be_32_bytes() -> None:
    with pytest.raises(CryptoError, match="32 bytes"):
        NodeKeys(Ed25519PrivateKey.generate(), NodeKeys.generate().sealing, b"short")


def test_fingerprint_format_and_known_value() -> None:
    keys = PublicKeys(signing=bytes(range(32)), sealing=bytes(range(32, 64)))
    assert keys.fingerprint() == "fdea:b9ac:f371:0362:bd26:58cd:c9a2:9e8f"
    assert FINGERPRINT.fullmatch(NodeKeys.generate().public().fingerprint())


def test_the_fingerprint_covers_both_keys_in_order() -> None:
    a, b = bytes(range(32)), bytes(range(32, 64))
    assert PublicKeys(a, b).fingerprint() != PublicKeys(b, a).fingerprint()
    assert PublicKeys(a, b).fingerprint() != PublicKeys(a, a).fingerprint()


@pytest.mark.parametrize(("signing", "sealing"), [(b"", b"x" * 32), (b"x" * 32, b"x" * 33)])
def test_public_keys_must_be_32_bytes(signing: bytes, sealing: bytes) -> None:
    with pytest.raises(CryptoError, match="32 raw bytes"):
        PublicKeys(signing, sealing)


# --- to_dict / from_dict ------------------------------------------------------------------


def test_to_dict_is_unpadded_base64url_and_round_trips() -> None:
    public = NodeKeys.generate().public()
    d = public.to_dict()
    assert set(d) == {"signing", "sealing"}
    for text in d.values():
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", text)
    assert PublicKeys.from_dict(d) == public


def test_to_dict_known_value() -> None:
    d = PublicKeys(signing=bytes(32), sealing=b"\xff" * 32).to_dict()
    assert d == {"signing": "A" * 43, "sealing": "_" * 42 + "8"}


def test_from_dict_ignores_other_members() -> None:
    public = NodeKeys.generate().public()
    assert PublicKeys.from_dict({**public.to_dict(), "nation": "JPN"}) == public


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"signing": None}, "must be a string"),
        ({"sealing": 42}, "must be a string"),
        ({"signing": "A" * 43 + "="}, "not base64url without padding"),
        ({"signing": "+" * 43}, "not base64url without padding"),
        ({"signing": "/" * 43}, "not base64url without padding"),
        ({"signing": "A" * 42 + " "}, "not base64url without padding"),
        ({"signing": "A" * 41}, "not base64url without padding"),
        ({"signing": "A" * 42 + "B"}, "not canonical base64url"),
        ({"signing": "A" * 42}, "31 bytes"),
        ({"sealing": "A" * 44}, "33 bytes"),
        ({"sealing": ""}, "0 bytes"),
    ],
)
def test_from_dict_refuses_malformed_input(change: dict[str, object], reason: str) -> None:
    d: dict[str, object] = {**NodeKeys.generate().public().to_dict(), **change}
    with pytest.raises(CryptoError, match=reason) as caught:
        PublicKeys.from_dict(d)
    assert not isinstance(caught.value, KeyFileError)


@pytest.mark.parametrize("missing", ["signing", "sealing"])
def test_from_dict_refuses_a_missing_member(missing: str) -> None:
    d = NodeKeys.generate().public().to_dict()
    del d[missing]
    with pytest.raises(CryptoError, match=f"{missing} is missing"):
        PublicKeys.from_dict(d)


# --- save ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("permissive_umask")
def test_save_writes_three_files_with_mode_0600_whatever_the_umask(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    NodeKeys.generate().save(directory)
    assert sorted(p.name for p in directory.iterdir()) == sorted(KEY_FILES)
    for name in KEY_FILES:
        assert _mode(directory / name) == 0o600, name
    assert _mode(directory) == 0o700


def test_the_file_formats(saved: tuple[NodeKeys, Path]) -> None:
    keys, directory = saved
    assert (directory / STORAGE_FILE).read_bytes() == keys.storage
    for name in (SIGNING_FILE, SEALING_FILE):
        assert (directory / name).read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")
    signing = serialization.load_pem_private_key(
        (directory / SIGNING_FILE).read_bytes(), password=None
    )
    assert isinstance(signing, Ed25519PrivateKey)
    assert signing.public_key().public_bytes_raw() == keys.public().signing


def test_save_refuses_to_overwrite(saved: tuple[NodeKeys, Path]) -> None:
    _, directory = saved
    before = {name: (directory / name).read_bytes() for name in KEY_FILES}
    with pytest.raises(KeyFileError, match="already exists; refusing to overwrite"):
        NodeKeys.generate().save(directory)
    assert {name: (directory / name).read_bytes() for name in KEY_FILES} == before


@pytest.mark.parametrize("existing", KEY_FILES)
def test_save_writes_nothing_if_any_key_file_exists(tmp_path: Path, existing: str) -> None:
    (tmp_path / existing).write_bytes(b"someone else's key")
    with pytest.raises(KeyFileError) as caught:
        NodeKeys.generate().save(tmp_path)
    assert caught.value.path == tmp_path / existing
    assert [p.name for p in tmp_path.iterdir()] == [existing]
    assert (tmp_path / existing).read_bytes() == b"someone else's key"


def test_save_refuses_a_dangling_symlink(tmp_path: Path) -> None:
    (tmp_path / SIGNING_FILE).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(KeyFileError, match="already exists"):
        NodeKeys.generate().save(tmp_path)
    assert not (tmp_path / "elsewhere").exists()


# --- load ---------------------------------------------------------------------------------


def test_load_round_trip(saved: tuple[NodeKeys, Path]) -> None:
    keys, directory = saved
    loaded = NodeKeys.load(directory)
    assert loaded.public() == keys.public()
    assert loaded.public().fingerprint() == keys.public().fingerprint()
    assert loaded.storage == keys.storage
    verify(keys.public().signing, b"m", sign(loaded.signing, b"m"))
    content_key = new_key()
    assert unseal(loaded.sealing, seal(keys.public().sealing, content_key, b"c"), b"c") == (
        content_key
    )


def test_fingerprint_stable_across_save_and_load(tmp_path: Path) -> None:
    keys = NodeKeys.generate()
    keys.save(tmp_path / "a")
    NodeKeys.load(tmp_path / "a").save(tmp_path / "b")
    assert NodeKeys.load(tmp_path / "b").public().fingerprint() == keys.public().fingerprint()


def test_load_accepts_an_owner_read_only_file(saved: tuple[NodeKeys, Path]) -> None:
    keys, directory = saved
    for name in KEY_FILES:
        os.chmod(directory / name, 0o400)
    assert NodeKeys.load(directory).public() == keys.public()


def test_load_refuses_a_world_readable_file_and_says_how_to_fix_it(
    saved: tuple[NodeKeys, Path],
) -> None:
    _, directory = saved
    path = directory / SIGNING_FILE
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError) as caught:
        NodeKeys.load(directory)
    assert str(caught.value) == (
        f"{path} is readable by group and others (mode 0644); chmod 600 it"
    )
    assert caught.value.path == path


@pytest.mark.parametrize("name", KEY_FILES)
@pytest.mark.parametrize(
    ("mode", "exposure"),
    [
        (0o644, "readable by group and others"),
        (0o640, "readable by group"),
        (0o604, "readable by others"),
        (0o660, "readable and writable by group"),
        (0o620, "writable by group"),
        (0o602, "writable by others"),
        (0o610, "executable by group"),
        (0o666, "readable and writable by group and others"),
        (0o677, "readable and writable and executable by group and others"),
    ],
)
def test_load_refuses_a_file_open_to_group_or_others(
    saved: tuple[NodeKeys, Path], name: str, mode: int, exposure: str
) -> None:
    _, directory = saved
    os.chmod(directory / name, mode)
    with pytest.raises(KeyFileError) as caught:
        NodeKeys.load(directory)
    assert caught.value.path == directory / name
    assert str(caught.value) == f"{directory / name} is {exposure} (mode {mode:04o}); chmod 600 it"


@pytest.mark.parametrize("name", KEY_FILES)
def test_load_refuses_a_missing_file(saved: tuple[NodeKeys, Path], name: str) -> None:
    _, directory = saved
    (directory / name).unlink()
    with pytest.raises(KeyFileError, match="is missing") as caught:
        NodeKeys.load(directory)
    assert caught.value.path == directory / name


def test_load_refuses_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="is missing") as caught:
        NodeKeys.load(tmp_path / "nowhere")
    assert caught.value.path == tmp_path / "nowhere" / SIGNING_FILE


@pytest.mark.parametrize("name", [SIGNING_FILE, SEALING_FILE])
@pytest.mark.parametrize(
    "content", [b"", b"garbage", b"\x00" * 32, b"-----BEGIN PRIVATE KEY-----\n"]
)
def test_load_refuses_a_malformed_private_key(
    saved: tuple[NodeKeys, Path], name: str, content: bytes
) -> None:
    _, directory = saved
    (directory / name).write_bytes(content)
    with pytest.raises(KeyFileError, match="is not an unencrypted PEM PKCS#8") as caught:
        NodeKeys.load(directory)
    assert caught.value.path == directory / name


def test_load_refuses_swapped_key_files(saved: tuple[NodeKeys, Path]) -> None:
    _, directory = saved
    signing, sealing = directory / SIGNING_FILE, directory / SEALING_FILE
    signing_pem, sealing_pem = signing.read_bytes(), sealing.read_bytes()
    signing.write_bytes(sealing_pem)
    sealing.write_bytes(signing_pem)
    with pytest.raises(KeyFileError, match="not an Ed25519 private key") as caught:
        NodeKeys.load(directory)
    assert caught.value.path == signing


def test_load_refuses_an_encrypted_private_key(saved: tuple[NodeKeys, Path]) -> None:
    keys, directory = saved
    encrypted = keys.signing.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    (directory / SIGNING_FILE).write_bytes(encrypted)
    with pytest.raises(KeyFileError, match="unencrypted"):
        NodeKeys.load(directory)


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_load_refuses_a_storage_key_of_the_wrong_size(
    saved: tuple[NodeKeys, Path], length: int
) -> None:
    _, directory = saved
    (directory / STORAGE_FILE).write_bytes(b"k" * length)
    with pytest.raises(KeyFileError, match=f"holds {length} bytes, not a 32-byte AES-256 key"):
        NodeKeys.load(directory)


def test_load_refuses_a_huge_file(saved: tuple[NodeKeys, Path]) -> None:
    _, directory = saved
    (directory / STORAGE_FILE).write_bytes(b"k" * 100_000)
    with pytest.raises(KeyFileError, match="larger than"):
        NodeKeys.load(directory)


def test_load_refuses_a_directory_in_place_of_a_key(saved: tuple[NodeKeys, Path]) -> None:
    _, directory = saved
    (directory / SEALING_FILE).unlink()
    (directory / SEALING_FILE).mkdir(mode=0o700)
    with pytest.raises(KeyFileError, match="is not a regular file"):
        NodeKeys.load(directory)


def test_load_refuses_a_fifo_without_hanging(saved: tuple[NodeKeys, Path]) -> None:
    _, directory = saved
    (directory / STORAGE_FILE).unlink()
    os.mkfifo(directory / STORAGE_FILE, 0o600)
    with pytest.raises(KeyFileError, match="is not a regular file"):
        NodeKeys.load(directory)


def test_load_checks_the_target_of_a_symlink(saved: tuple[NodeKeys, Path]) -> None:
    keys, directory = saved
    target = directory.parent / "real-storage.key"
    (directory / STORAGE_FILE).rename(target)
    (directory / STORAGE_FILE).symlink_to(target)
    assert NodeKeys.load(directory).storage == keys.storage
    os.chmod(target, 0o644)
    with pytest.raises(KeyFileError, match="mode 0644"):
        NodeKeys.load(directory)


def test_key_file_errors_are_crypto_errors() -> None:
    error = KeyFileError(Path("/keys/signing.key"), "is missing")
    assert isinstance(error, CryptoError)
    assert isinstance(error, GsoiaError)
    assert error.diagnostics() == "/keys/signing.key is missing"
    assert error.reason == "is missing"
