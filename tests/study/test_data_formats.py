"""On-disk dataset formats: small files written here in each format, then loaded."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest

from stridescope.errors import StridescopeError, UnknownNameError
from stridescope.study.data import dataset_names, load_dataset
from stridescope.study.data_idx import IDX_FILES, parse_idx

RNG = np.random.default_rng(0)


def _idx_bytes(values: np.ndarray, code: int) -> bytes:
    header = bytes([0, 0, code, values.ndim]) + np.asarray(values.shape, ">u4").tobytes()
    return header + values.tobytes()


def _write_idx(folder: Path, *, gz: bool, n_train: int = 30, n_test: int = 10) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": RNG.integers(0, 256, (n_train, 6, 5), dtype=np.uint8),
        "train_labels": np.arange(n_train, dtype=np.uint8) % 10,
        "test_images": RNG.integers(0, 256, (n_test, 6, 5), dtype=np.uint8),
        "test_labels": np.arange(n_test, dtype=np.uint8) % 10,
    }
    for key, stem in IDX_FILES.items():
        blob = _idx_bytes(arrays[key], 0x08)
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(blob))
        else:
            (folder / stem).write_bytes(blob)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("name", ["mnist-idx", "fashion-mnist-idx"])
def test_idx_folder_loads_with_its_own_split(tmp_path: Path, gz: bool, name: str) -> None:
    arrays = _write_idx(tmp_path / "idx", gz=gz)
    ds = load_dataset(name, path=tmp_path / "idx")
    assert ds.input_shape == (1, 6, 5)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    np.testing.assert_array_equal(ds.y_train, arrays["train_labels"])
    np.testing.assert_array_equal(ds.y_test, arrays["test_labels"])
    # normalised with the train statistics: the pixel order is kept, mean 0 / std 1 on train
    raw = arrays["train_images"].astype(np.float64)
    expected = (raw - raw.mean()) / raw.std()
    np.testing.assert_allclose(ds.x_train[:, 0], expected, atol=1e-5)
    assert abs(float(ds.x_train.mean())) < 1e-5 and abs(float(ds.x_train.std()) - 1) < 1e-4
    assert ds.num_classes == 10
    assert ds.class_names[0] == ("T-shirt/top" if name.startswith("fashion") else "0")


def test_idx_parser_reads_big_endian_wider_types() -> None:
    values = (np.arange(6).reshape(3, 2) - 3).astype(">i2")
    parsed = parse_idx(_idx_bytes(values, 0x0B), "x")
    assert parsed.tolist() == [[-3, -2], [-1, 0], [1, 2]]
    floats = parse_idx(_idx_bytes(np.array([0.5, -2.25], dtype=">f8"), 0x0E), "x")
    assert floats.tolist() == [0.5, -2.25] and floats.dtype == np.float64


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"\x08\x03\x08\x01\x00\x00\x00\x01\x00", "bad IDX magic number"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x00", "bad IDX magic number"),
        (b"", "bad IDX magic number"),
        (b"\x00\x00\x08\x02\x00\x00\x00\x02", "header cut short"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02", "holds 2 bytes"),
    ],
)
def test_idx_parser_rejects_bad_files(blob: bytes, message: str) -> None:
    with pytest.raises(StridescopeError, match=message):
        parse_idx(blob, "some/file")


def test_idx_folder_errors_name_the_path(tmp_path: Path) -> None:
    _write_idx(tmp_path / "idx", gz=True)
    (tmp_path / "idx" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(StridescopeError, match="missing t10k-labels-idx1-ubyte") as info:
        load_dataset("mnist-idx", path=tmp_path / "idx")
    assert str(tmp_path / "idx") in str(info.value) and "\n" not in str(info.value)
    (tmp_path / "idx" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(StridescopeError, match="not a readable gzip file"):
        load_dataset("mnist-idx", path=tmp_path / "idx")
    (tmp_path / "idx" / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x01\x02\x03\x04"))
    with pytest.raises(StridescopeError, match="bad IDX magic number"):
        load_dataset("mnist-idx", path=tmp_path / "idx")


def _write_cifar(folder: Path, *, hundred: bool) -> tuple[np.ndarray, list[int]]:
    folder.mkdir(parents=True)
    label_key = b"fine_labels" if hundred else b"labels"
    train_names = ["train"] if hundred else [f"data_batch_{i}" for i in range(1, 6)]
    first = None
    for name in [*train_names, "test"] if hundred else [*train_names, "test_batch"]:
        data = RNG.integers(0, 256, (4, 3072), dtype=np.uint8)
        labels = [int(v) for v in RNG.integers(0, 100 if hundred else 10, 4)]
        if first is None:
            first = (data, labels)
        with (folder / name).open("wb") as handle:
            pickle.dump({b"data": data, label_key: labels, b"batch_label": b"x"}, handle, 2)
    names = [f"class{i}".encode() for i in range(100 if hundred else 10)]
    meta = {b"fine_label_names": names} if hundred else {b"label_names": names}
    with (folder / ("meta" if hundred else "batches.meta")).open("wb") as handle:
        pickle.dump(meta, handle, 2)
    assert first is not None
    return first


@pytest.mark.parametrize("hundred", [False, True])
def test_cifar_pickle_folders(tmp_path: Path, hundred: bool) -> None:
    data, labels = _write_cifar(tmp_path / "cifar", hundred=hundred)
    ds = load_dataset("cifar100" if hundred else "cifar10", path=tmp_path / "cifar")
    assert ds.input_shape == (3, 32, 32)
    assert len(ds.y_train) == (4 if hundred else 20) and len(ds.y_test) == 4
    assert ds.num_classes == (100 if hundred else 10) and ds.class_names[3] == "class3"
    assert ds.y_train[:4].tolist() == labels
    # channel planes: R is the first 1024 values; normalisation is monotone per channel
    red = data[0, :1024].reshape(32, 32).astype(np.float64)
    assert np.array_equal(np.argsort(ds.x_train[0, 0], axis=None), np.argsort(red, axis=None))


def test_cifar_refuses_foreign_pickles_and_missing_batches(tmp_path: Path) -> None:
    _write_cifar(tmp_path / "c", hundred=False)
    (tmp_path / "c" / "data_batch_3").unlink()
    with pytest.raises(StridescopeError, match="missing data_batch_3"):
        load_dataset("cifar10", path=tmp_path / "c")
    with (tmp_path / "c" / "data_batch_3").open("wb") as handle:
        pickle.dump({b"data": Path("x")}, handle)  # pathlib is not allowed in a batch
    with pytest.raises(StridescopeError, match="refused to load pathlib"):
        load_dataset("cifar10", path=tmp_path / "c")


def _png(path: Path, image: np.ndarray) -> None:
    import skimage.io

    path.parent.mkdir(parents=True, exist_ok=True)
    skimage.io.imsave(path, image, check_contrast=False)


def test_imagefolder_resizes_and_splits_stratified(tmp_path: Path) -> None:
    for c, cls in enumerate(["cat", "dog", "emu"]):
        for i in range(5):
            size = (6, 8) if i else (12, 16)  # one larger image per class: resized
            _png(tmp_path / "imgs" / cls / f"{i}.png", np.full((*size, 3), 40 * c + i, np.uint8))
    _png(tmp_path / "imgs" / "emu" / "grey.png", np.full((6, 8), 200, np.uint8))
    (tmp_path / "imgs" / "emu" / "notes.txt").write_text("not an image")
    ds = load_dataset("imagefolder", path=tmp_path / "imgs", seed=3, test_fraction=0.2)
    assert ds.class_names == ("cat", "dog", "emu") and ds.input_shape == (3, 12, 16)
    assert len(ds.y_train) + len(ds.y_test) == 16
    assert sorted(np.bincount(ds.y_test).tolist()) == [1, 1, 2]
    again = load_dataset("imagefolder", path=tmp_path / "imgs", seed=3, image_size=(4, 4))
    assert again.input_shape == (3, 4, 4)
    np.testing.assert_array_equal(again.y_test, ds.y_test)  # same seed: same split


def test_imagefolder_errors(tmp_path: Path) -> None:
    (tmp_path / "flat").mkdir()
    _png(tmp_path / "flat" / "a.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(StridescopeError, match="no class folders"):
        load_dataset("imagefolder", path=tmp_path / "flat")
    (tmp_path / "flat" / "empty").mkdir()
    with pytest.raises(StridescopeError, match="empty class folder"):
        load_dataset("imagefolder", path=tmp_path / "flat")
    (tmp_path / "bad" / "x").mkdir(parents=True)
    (tmp_path / "bad" / "x" / "a.png").write_bytes(b"garbage")
    with pytest.raises(StridescopeError, match="not a readable image"):
        load_dataset("imagefolder", path=tmp_path / "bad")


def test_paths_required_forbidden_and_checked(tmp_path: Path) -> None:
    with pytest.raises(StridescopeError, match="takes no path"):
        load_dataset("digits", path=tmp_path)
    with pytest.raises(StridescopeError, match="give its path"):
        load_dataset("cifar10")
    with pytest.raises(StridescopeError, match="does not exist"):
        load_dataset("imagefolder", path=tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(StridescopeError, match="is not a folder"):
        load_dataset("mnist-idx", path=tmp_path / "file")
    with pytest.raises(StridescopeError, match="image_size applies"):
        load_dataset("digits", image_size=(4, 4))
    with pytest.raises(UnknownNameError, match="known: mnist5k, digits"):
        load_dataset("imagenet")
    assert set(dataset_names()) >= {"cifar10", "cifar100", "imagefolder", "mnist-idx"}


def test_digits_split_is_seeded_and_stratified() -> None:
    a = load_dataset("digits", seed=0)
    b = load_dataset("digits", seed=0)
    c = load_dataset("digits", seed=1, test_fraction=0.5)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert len(c.y_test) == 899 and not np.array_equal(a.y_test[:50], c.y_test[:50])
    counts = np.bincount(a.y_test)
    assert counts.min() >= 35 and counts.max() <= 37  # ~20% of each ~180-image class
    with pytest.raises(StridescopeError, match="test_fraction must lie"):
        load_dataset("digits", test_fraction=1.0)
