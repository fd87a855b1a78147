"""Every field of a dataset file is checked for kind, shape and finiteness before use, and a
refusal names the file and the field (issue 28, point 8; docs/DATA_FORMAT.md lists the fields)."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from core.data import DatasetFileError, load_dataset
from core.data.store import dataset_file_problem


def _replace(f, name, values):
    del f[name]
    f.create_dataset(name, data=values)


def _attr(name, value):
    """A spoiler that sets root attribute ``name`` to ``value``."""
    return lambda f: f.attrs.__setitem__(name, value)


def _like(f, name, dtype):
    """An array of ``name``'s shape in another dtype."""
    return np.zeros(f[name].shape, dtype=dtype)


#: (variant, field named in the message, how the file is spoilt)
VARIANTS = {
    "bytes velocity": ("velocity", lambda f: _replace(f, "velocity", np.full(f["velocity"].shape, b"x"))),
    "complex velocity": ("velocity", lambda f: _replace(f, "velocity", _like(f, "velocity", np.complex64))),
    "integer smoke": ("smoke", lambda f: _replace(f, "smoke", _like(f, "smoke", np.int32))),
    "velocity a group": ("velocity", lambda f: (f.__delitem__("velocity"), f.create_group("velocity"))),
    "wrong shape": ("data_ee_one_step", lambda f: _replace(f, "data_ee_one_step", np.zeros((4, 2, 3)))),
    "string data_ee_trajectory": ("data_ee_trajectory", _attr("data_ee_trajectory", "abc")),
    "NaN data_ee_trajectory": ("data_ee_trajectory", _attr("data_ee_trajectory", np.nan)),
    "array data_ee_one_step attribute": ("data_ee_one_step", _attr("data_ee_one_step", np.ones(3))),
    "NaN in data_ee_one_step": (
        "data_ee_one_step",
        lambda f: f["data_ee_one_step"].__setitem__((1, 0, 2), np.nan),
    ),
    "NaN in velocity": ("velocity", lambda f: f["velocity"].__setitem__((0, 1, 3, 0, 2, 2), np.nan)),
    "string format_version": ("format_version", _attr("format_version", "2")),
    "number config": ("config", _attr("config", 7)),
    "missing smoke": ("smoke", lambda f: f.__delitem__("smoke")),
    "missing data_ee_trajectory": ("data_ee_trajectory", lambda f: f.attrs.__delitem__("data_ee_trajectory")),
}  # fmt: skip


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_field_of_the_wrong_kind_shape_or_value_is_refused_naming_file_and_field(
    variant, tiny_dataset_path, tmp_path
):
    field, spoil = VARIANTS[variant]
    bad = tmp_path / f"spoilt-{variant.replace(' ', '-')}.h5"
    shutil.copy(tiny_dataset_path, bad)
    with h5py.File(bad, "r+") as f:
        spoil(f)
    with pytest.raises(DatasetFileError) as caught:
        load_dataset(bad)
    message = str(caught.value)
    assert str(bad) in message and field in message and "\n" not in message
    assert caught.value.reason in message and str(bad) not in caught.value.reason


def test_wrong_kinds_are_named_in_words(tiny_dataset_path, tmp_path):
    bad = tmp_path / "bytes.h5"
    shutil.copy(tiny_dataset_path, bad)
    with h5py.File(bad, "r+") as f:
        _replace(f, "velocity", np.full(f["velocity"].shape, b"x"))
        f.attrs["data_ee_trajectory"] = "abc"
    with pytest.raises(
        DatasetFileError,
        match=r"bytes.h5: attribute data_ee_trajectory must be a finite number, found text 'abc'",
    ):
        load_dataset(bad)
    with h5py.File(bad, "r+") as f:
        f.attrs["data_ee_trajectory"] = 0.5
    with pytest.raises(
        DatasetFileError, match=r"bytes.h5: velocity has dtype \|S1 \(bytes\), expected real floating point"
    ):
        load_dataset(bad)


def test_the_header_check_of_a_listing_reads_no_array_and_agrees_with_loading(tiny_dataset_path, tmp_path):
    assert dataset_file_problem(tiny_dataset_path) is None
    bad = tmp_path / "complex.h5"
    shutil.copy(tiny_dataset_path, bad)
    with h5py.File(bad, "r+") as f:
        _replace(f, "velocity", _like(f, "velocity", np.complex64))
    with pytest.raises(DatasetFileError) as caught:
        load_dataset(bad)
    assert (
        dataset_file_problem(bad)
        == caught.value.reason
        == ("velocity has dtype <c8 (complex), expected real floating point")
    )
    truncated = tmp_path / "half.h5"
    truncated.write_bytes(tiny_dataset_path.read_bytes()[:1000])
    assert dataset_file_problem(truncated).startswith("not a readable dataset (truncated or corrupted?)")
